"""The public "Get in Touch" pages: the initiative, its partners and the inquiry form, in English and Spanish."""
