"""An example hftperf scenario plug-in (see hftperf's docs/plugins.md)."""
