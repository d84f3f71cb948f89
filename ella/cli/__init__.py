"""argparse front ends of the bin/ scripts."""
