"""Fashion tasks on top of timm_ml: Fashion-MNIST demo data, garment attributes, fashion product heads."""
