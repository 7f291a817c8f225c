"""How we know the controller is safe: Z3 encoder and k-induction engine over the real
transition table, CrossHair contracts, seeded random walks, and the evidence commands."""
