"""Work lists for sales: opportunities, risks, eligible customers not enrolled, the money map."""
