# Writes a calibration text of random lowercase words (no blank lines, so Rose reads it as one
# document) and the token windows Rose's sequential sampling cuts from it with the byte-level
# tokenizer `rose synth` writes (BOS 256, then one token per byte), as JSON for torch_baseline.py's
# ROSE_TORCH_TOKENS: both sides then calibrate on the same windows.
#
#   python3 bench/gpu/byte_windows.py TEXT_OUT WINDOWS_OUT.json NSAMPLES SEQLEN
import json, random, sys

text_path, windows_path, nsamples, seqlen = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(3)
words, length = [], 0
while length < nsamples * seqlen + seqlen:
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
    words.append(word)
    length += len(word) + 1
text = " ".join(words)
with open(text_path, "w") as f:
    f.write(text)
ids = [256] + list(text.encode())
json.dump([ids[i * seqlen:(i + 1) * seqlen] for i in range(nsamples)], open(windows_path, "w"))
