# Reference VLA presets, packaged as data (deployprof._models). One YAML per preset; copy and edit.
