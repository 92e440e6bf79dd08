# Reads safetensors checkpoints (one file or shards) by hand into torch tensors, so the GPU scripts
# need torch alone.
import json, os, struct
import torch

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def index_tensors(folder):
    """name -> (file, data start, header entry) over every *.safetensors file in folder."""
    where = {}
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".safetensors"):
            continue
        path = os.path.join(folder, f)
        with open(path, "rb") as h:
            n = struct.unpack("<Q", h.read(8))[0]
            header = json.loads(h.read(n))
        for name, info in header.items():
            if name != "__metadata__":
                where[name] = (path, 8 + n, info)
    return where


def read_tensor(where, name):
    path, base, info = where[name]
    begin, end = info["data_offsets"]
    buf = bytearray(end - begin)
    with open(path, "rb") as h:
        h.seek(base + begin)
        h.readinto(buf)
    return torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
