"""Files: reading data folders and program files."""
