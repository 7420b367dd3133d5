"""qsnn-deploy: quantised spiking CNNs from training to SynSense Speck / DynapCNN chips."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
