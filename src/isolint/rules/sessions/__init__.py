"""The database sessions family (ISO201-ISO205): sessions that outlive a request.

`family` holds the family's configuration, vocabulary and decisions;
`evidence` its one analysis of a file, on the stdlib `ast`; `facts` what that
analysis contributes to the project index, and how rules read it back. One
module per rule.
"""
