"""Graph -> C code for CMSIS-NN: names, parameters, layers, sizes and the emitted files."""
