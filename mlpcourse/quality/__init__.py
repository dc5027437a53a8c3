"""How good the tests are: the catalogue of bugs, the kill matrix, and the fast harness."""
