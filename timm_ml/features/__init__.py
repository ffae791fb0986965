from .cache_writer import FeatureCacheSpec, write_feature_cache
from .scoring import cache_scores
