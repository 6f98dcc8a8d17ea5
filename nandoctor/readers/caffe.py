"""Placeholder: the caffe reader is being written."""
FORMAT = "caffe"


def sniff(path, head):
    return False


def read(path):
    from . import ReadError
    raise ReadError("not yet readable")
