// Nothing to copy: calibration/ and dashboards/ are read from the project folder at run time.
