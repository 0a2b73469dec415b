"""Run-time control of cameras: PTZ control arbitrated by level (R13) and relayed to the devices over ONVIF."""
