"""The lab behind `make e2e`: real tools and SSH nodes; the program never imports it."""
