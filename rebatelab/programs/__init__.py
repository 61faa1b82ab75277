"""Program terms: the tier math, the Program and ProgramSet models, the program file's rules."""
