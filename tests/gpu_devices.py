"""The GPU devices the tests run on: the simulator always, CUDA and Metal when
this build and machine have them."""
import splatcore as sc


def gpu_devices():
    devs = ["sim"]
    if sc.device_count("cuda") > 0:
        devs.append("cuda")
    if sc.device_count("metal") > 0:
        devs.append("metal")
    return devs


ALL_DEVICES = ["cpu"] + gpu_devices()
