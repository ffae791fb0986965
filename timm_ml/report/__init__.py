from .per_class import write_per_class_report
