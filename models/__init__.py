# Reference VLA presets, packaged as data (deployprof.presets). One YAML per preset; copy and edit.
