from .error_analysis import ReportError, write_error_report
from .per_class import write_per_class_report
