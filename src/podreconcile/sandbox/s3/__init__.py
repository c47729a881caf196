"""RunPod's S3-compatible API for network volumes, served by the sandbox over the volumes' own folders."""
