"""Every user mistake, in one table: exit status 2, one line, no traceback, nothing saved damaged.

Each row is (command line, message fragments). Words in braces name things the ``place``
fixture makes. It makes the saved checkpoints ``{lm}``, ``{fc}``, ``{tr}``, ``{clf}`` and
``{cond}`` (copies of the committed ``fixtures/v0``), tampered copies of them (``{t_...}``), data
files and bad files. Every row checks the same things: the exit status is 2, stderr is exactly
one line ``rnnlab: error: ...`` matching the fragments (regular expressions; a Python warning
would count as a line), there is no traceback, every file of every saved checkpoint is
byte-for-byte what it was, no temporary file is left and no pipe was replaced.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import deep, deep_dumps, safetensors_header, write_safetensors_header
from rnnlab.checkpoint import TRAINER_STATE, WEIGHTS, read_tensors, write_tensors
from rnnlab.cli import main
from rnnlab.data.series import SeriesScaling
from rnnlab.tasks.classify.model import SequenceClassifier

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0"
SAVED = {
    "lm": "language",
    "fc": "forecast",
    "tr": "translate",
    "clf": "classify",
    "cond": "conditional",
}
#: the options of a small, quick run: a language model's, and any other task's
TS = "@problemName x\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n"
LM_SMALL = "--hidden 8 --embedding 4 --seq-len 8 --batch-size 2 --epochs 1"
SMALL = "--hidden 4 --epochs 1"


def _set(path: str, value):
    """An edit of a config: set the value at the dotted ``path`` (None deletes it)."""

    def edit(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return edit


#: tampered checkpoints: name -> (the saved one it copies, an edit of its config.json)
TAMPERED = {
    "hidden20000": ("lm", _set("model.hidden_size", 20000)),
    "layers100000": ("lm", _set("model.num_layers", 100000)),
    "hidden_negative": ("lm", _set("model.hidden_size", -3)),
    "two_char_symbol": ("lm", lambda c: c["vocab"]["symbols"].__setitem__(2, "ab")),
    "int_symbols": ("lm", lambda c: c["vocab"].__setitem__("symbols", list(range(13)))),
    "no_vocab": ("lm", _set("vocab", None)),
    "training_list": ("lm", _set("training", [1, 2])),
    "data_list": ("lm", _set("data", [1])),
    "lr_text": ("lm", _set("training.lr", "abc")),
    "source_number": ("lm", _set("data.source", 5)),
    "source_dev_zero": ("lm", _set("data.source", "/dev/zero")),
    "nested": ("lm", _set("model.extra", deep(100_000))),
    "window0": ("fc", _set("model.window", 0)),
    "horizon_huge": ("fc", _set("model.horizon", 1e8)),
}


def _tamper_state(path: Path, edit) -> None:
    """Edit the trainer state's JSON (in its safetensors header's metadata) and header."""
    header, body = safetensors_header(path)
    meta = json.loads(header["__metadata__"]["rnnlab"])
    edit(meta, header)
    header["__metadata__"]["rnnlab"] = deep_dumps(meta)
    write_safetensors_header(path, header, body)


def _optim_slot_wrong_shape(meta: dict, header: dict) -> None:
    """Transpose the shape of a matrix's AdamW moment: the same bytes, the wrong shape."""
    key = next(
        k
        for k, v in header.items()
        if k.endswith("exp_avg") and len(v["shape"]) == 2 and v["shape"][0] != v["shape"][1]
    )
    header[key]["shape"] = header[key]["shape"][::-1]


#: tampered trainer states of the language checkpoint: name -> edit of (meta, header)
TAMPERED_STATES = {
    "elapsed_nan": lambda meta, header: meta.__setitem__("elapsed", float("nan")),
    "step_text": lambda meta, header: meta.__setitem__("step", "seven"),
    "slot_shape": _optim_slot_wrong_shape,
    "state_nested": lambda meta, header: meta.__setitem__("records", deep(50)),
    "unfinished": lambda meta, header: meta.__setitem__("step", 0),  # resumes a whole epoch
}


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    names: dict[str, str] = {"tmp": str(root)}
    for name, source in SAVED.items():
        shutil.copytree(FIXTURES / source, root / name)
        names[name] = str(root / name)
    for name, (base, edit) in TAMPERED.items():
        shutil.copytree(FIXTURES / SAVED[base], root / f"t_{name}")
        config_path = root / f"t_{name}" / "config.json"
        config = json.loads(config_path.read_text())
        edit(config)
        config_path.write_text(deep_dumps(config))
        names[f"t_{name}"] = str(root / f"t_{name}")
    for name, edit in TAMPERED_STATES.items():
        shutil.copytree(FIXTURES / "language", root / f"s_{name}")
        _tamper_state(root / f"s_{name}" / TRAINER_STATE, edit)
        names[f"s_{name}"] = str(root / f"s_{name}")
    nan = root / "t_nan_weights"
    shutil.copytree(FIXTURES / "language", nan)
    tensors, meta = read_tensors(nan / WEIGHTS)
    next(iter(tensors.values())).fill_(float("nan"))
    write_tensors(nan / WEIGHTS, tensors, meta)
    names["t_nan_weights"] = str(nan)
    mismatch = root / "t_mismatch"  # the classifier's weights under the language config
    shutil.copytree(FIXTURES / "language", mismatch)
    shutil.copy(FIXTURES / "classify" / WEIGHTS, mismatch / WEIGHTS)
    names["t_mismatch"] = str(mismatch)
    files = {
        "text": (FIXTURES / "text.txt").read_text() * 4,
        "names": (FIXTURES / "names.csv").read_text(),
        "pairs": (FIXTURES / "pairs.tsv").read_text(),
        "series": (FIXTURES / "series.csv").read_text(),
        "empty": "",
        "short": "too short\n",
        "one_class": "".join(f"name{i}\n" for i in range(20)),
        "huge_csv": "t,y\n" + "".join(f"{i},{(-1) ** i * 1e308}\n" for i in range(200)),
        "dup_csv": "name,name,kind\n" + "".join(f"a{i},b{i},{'xy'[i % 2]}\n" for i in range(40)),
        "long_line": "a" * 200_001 + "\n",
        "bad_pairs": "one\tun\nlonely\n",
        "talk": "A: hello\nB: hi there friend\n\nA: how are you\nB: fine thank you\n",
        "bad_talk": "no speaker on this line\nA: hi\n",
        "evil_yml": "conversations: !!python/object/apply:os.system [id]\n",
        "no_conversations_yml": "categories: [x]\n",
        "new_labels": "Orlov\tov\nSmith\tScottish\nKim\tKorean\nPopov\tov\n",
        "afile": "a file where a directory is expected\n",
        "huge_field": "text,label\n" + "x" * 200_000 + ",a\nshort,b\n",
        "huge_field_tsv": "hello\t" + "y" * 200_000 + "\n",
        "long_line_talk": "a" * 840_000 + "\n",
        "ragged_csv": "t,y\n0,1,9\n" + "".join(f"{i},{i % 7}\n" for i in range(1, 200)),
        "not_npy": "not an array",
        "broken_ts": "@problemName x\n@univariate perhaps\n@data\n1,2:a\n",
        "lying_ts": TS + "@data\n1,2:3,4:5,6:a\n1:2:3:b\n",
        "one_class_ts": TS + "@data\n1,2:3,4:a\n1:2:a\n",
        "long_ts": TS.replace("2", "1") + "@data\n" + "1," * 100_000 + "1:a\n1:b\n",
        "channels_csv": "id,x,y,label\na,1,2,u\na,2,3,u\nb,1,,v\nb,2,,v\n",
        "inf_csv": "id,x,label\na,1,u\na,inf,u\nb,1,v\n",
        "nan_csv": "id,x,label\na,1,u\na,,u\nb,1,v\nb,2,v\nc,1,u\nd,2,v\n",
    }
    suffixes = {"names": ".csv", "huge_csv": ".csv", "dup_csv": ".csv", "series": ".csv"}
    suffixes |= {"huge_field": ".csv", "huge_field_tsv": ".tsv", "ragged_csv": ".csv"}
    suffixes |= {"pairs": ".tsv", "bad_pairs": ".tsv", "new_labels": ".tsv", "not_npy": ".npy"}
    suffixes |= {"evil_yml": ".yml", "no_conversations_yml": ".yml"}
    suffixes |= dict.fromkeys(("broken_ts", "lying_ts", "one_class_ts", "long_ts"), ".ts")
    suffixes |= dict.fromkeys(("channels_csv", "inf_csv", "nan_csv"), ".csv")
    for name, content in files.items():
        path = root / f"{name}{suffixes.get(name, '.txt')}"
        path.write_text(content)
        names[name] = str(path)
    np.savez(root / "pickled_npz.npz", values=np.array([[1.0], [2.0]], dtype=object))
    names["pickled_npz"] = str(root / "pickled_npz.npz")
    scaling = SeriesScaling(["x"], [0.0], [1.0])
    series = SequenceClassifier(
        None, ["u", "v"], hidden_size=4, embedding_size=None, series=scaling
    )
    series.save_pretrained(root / "series_clf")
    names["series_clf"] = str(root / "series_clf")
    (root / "binary.bin").write_bytes(b"\x00\x01\x02" * 100)
    (root / "latin.txt").write_bytes("café au lait\n".encode("latin-1") * 50)
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(root / "wrong.npy", np.zeros(5, dtype=np.float32))
    (root / "adir").mkdir()
    os.mkfifo(root / "pipe")  # a special file: an output renamed over it would replace it
    os.mkfifo(root / "pipe.json")  # where an export to pipe.onnx would write its JSON
    names["pipe"] = str(root / "pipe")
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text('{"format": "rnnlab.language_model"')
    for name in ("binary", "latin", "objects", "wrong", "adir", "corrupt"):
        names[name] = str(next(root.glob(f"{name}*")))
    plain = ["translate", "train", "--pairs", names["pairs"], "--out", str(root / "tr_plain")]
    assert (
        run([*plain, "--attention", "none", *SMALL.split()])[0] == 0
    )  # a translator without attention
    names["tr_plain"] = str(root / "tr_plain")
    chat = ["chat", "train", "--dialogues", names["talk"], "--out", str(root / "chat")]
    assert run([*chat, "--test-fraction", "0", *SMALL.split()])[0] == 0
    names["chat"] = str(root / "chat")
    _speech_files(root, names)
    return names


def _speech_files(root: Path, names: dict[str, str]) -> None:
    """A recogniser (untrained, saved), recordings a recogniser cannot use, and manifests."""
    from rnnlab.tasks.speech import SpeechRecognizer, write_wav

    SpeechRecognizer("abc ", hidden_size=4, num_layers=1, n_mels=8).save_pretrained(root / "asr")
    names["asr"] = str(root / "asr")
    tone = (np.sin(np.arange(8000) / 3) * 0.5).astype(np.float32)
    recordings = {
        "tone_wav": (tone, 16000),
        "empty_wav": (tone[:0], 16000),
        "silent_wav": (tone * 0, 16000),
        "slow_wav": (tone, 2000),
    }
    for name, (samples, rate) in recordings.items():
        write_wav(root / f"{name}.wav", samples, rate)
        names[name] = str(root / f"{name}.wav")
    (root / "fake.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    names["fake_wav"] = str(root / "fake.wav")
    manifests = {
        "abc_manifest": f"path,transcript,voice\n{names['tone_wav']},abc,v1\n",
        "xyz_manifest": f"path,transcript,voice\n{names['tone_wav']},xyz,v1\n",
        "gone_manifest": "path,transcript,voice\nnowhere.wav,abc,v1\nnowhere2.wav,ab,v2\n",
        "dev_manifest": f"path,transcript,split\n{names['tone_wav']},abc,dev\n",
        "no_path_manifest": "file,text\na.wav,abc\n",
    }
    for name, content in manifests.items():
        (root / f"{name}.csv").write_text(content)
        names[name] = str(root / f"{name}.csv")
    (root / "made").mkdir()
    (root / "made" / "manifest.csv").write_text(manifests["abc_manifest"])
    names["made"] = str(root / "made")


#: (command line, fragments of the one error line)
CASES = [
    # finding 1: no output option writes over a checkpoint's files
    ("forecast predict {fc} --csv {series} --output {lm}/config.json", ["file of the checkpoint"]),
    ("forecast predict {fc} --csv {series} --output {fc}/model.safetensors", ["--output"]),
    ("forecast predict {fc} --csv {series} --plot {fc}/trainer_state.safetensors", ["--plot"]),
    ("translate {tr} cat --attention-plot {lm}/model.safetensors", ["--attention-plot"]),
    (
        "forecast train --csv {series} --target y --out {tmp}/f1 --plot {clf}/config.json",
        ["--plot"],
    ),
    (
        "classify evaluate {clf} --data {names} --out {clf}",
        ["holds a checkpoint; write elsewhere"],
    ),
    ("inspect states {lm} --text tea --out {lm}", ["holds a checkpoint"]),
    (
        "train --text {text} --out {tmp}/t1 --tensorboard {lm}",
        ["--tensorboard", "holds a checkpoint"],
    ),
    # finding 2: file-system mistakes are one line naming the path
    ("train --text {text} --out {afile}", ["--out", "is a file, not a directory"]),
    ("train --text {text} --out {afile}/sub", ["cannot be created", "is a file"]),
    ("train --text {text} --out /proc/x", ["cannot write in /proc"]),
    ("classify train --data {names} --out {afile}", ["is a file"]),
    ("translate train --pairs {pairs} --out {afile}", ["is a file"]),
    ("generate-from-label train --data {names} --out {afile}", ["is a file"]),
    ("forecast train --csv {series} --target y --out {afile}", ["is a file"]),
    ("demo --out {afile}", ["is a file"]),
    ("classify evaluate {clf} --data {names} --out {afile}", ["is a file"]),
    ("inspect states {lm} --text tea --out {afile}", ["is a file"]),
    ("inspect gradients --out {afile}", ["is a file"]),
    ("memory --out {afile}", ["is a file"]),
    ("forecast predict {fc} --csv {series} --plot {adir}", ["--plot", "is a directory"]),
    ("forecast predict {fc} --csv {series} --output {adir}", ["--output", "is a directory"]),
    ("translate {tr} cat --attention-plot {adir}", ["is a directory"]),
    ("forecast predict {fc} --csv {series} --output {pipe}", ["is not a regular file"]),
    ("scratch-train --steps 1 --save {pipe}", ["--save", "is not a regular file"]),
    ("train --text {text} --out {tmp}/t2 --tensorboard {afile}", ["--tensorboard", "is a file"]),
    ("scratch-train --steps 1 --save {adir}", ["--save", "is a directory"]),
    # finding 3: memory is bounded
    ("train --text {text} --out {tmp}/t3 --hidden 1000000", ["needs about", "GiB of memory"]),
    ("train --text {text} --out {tmp}/t3 --hidden 10000000", ["--hidden", "1..1048576"]),
    ("train --text {text} --out {tmp}/t3 --layers 99999999999", ["--layers", "1..1024"]),
    ("classify train --data {names} --out {tmp}/c3 --embedding 10000000", ["--embedding"]),
    ("inspect gradients --hidden 99999999999999999999999", ["--hidden"]),
    ("inspect gradients --cells lstm --distance 5 --hidden 1000000", ["out of memory"]),
    ("memory --length 100000000 --steps 1", ["length 100,000,000", "needs about"]),
    ("classify predict {clf} --file {long_line}", ["200,001 symbols; at most 100,000"]),
    ("inspect states {lm} --file {long_line} --max-chars 1000000", ["at most 100,000"]),
    ("translate {tr} cat --beam 100000", ["beam width must be in 1..256"]),
    ("translate train --pairs {pairs} --out {tmp}/r2 --max-length 100000000", ["--max-length"]),
    ("generate-from-label {cond} --label long --max-length 100000000", ["--max-length"]),
    ("inspect gradients --cells lstm --sequences 99999999999999999999999", ["needs about"]),
    ("generate {t_hidden20000}", ["does not fit its config", "shape"]),
    ("generate {t_layers100000}", ["100000 layers"]),
    ("forecast predict {t_horizon_huge} --csv {series}", ["horizon must be"]),
    ("train --resume {t_source_dev_zero}", ["/dev/zero is not a regular file"]),
    # finding 4: every float is finite; a tampered clock is refused
    ("train --text {text} --out {tmp}/t4 --budget inf", ["--budget", "positive number"]),
    ("train --text {text} --out {tmp}/t4 --lr nan", ["--lr"]),
    ("generate {lm} --top-p nan", ["--top-p"]),
    ("train --resume {s_elapsed_nan}", ["elapsed must be a finite number"]),
    ("generate-from-label train --data {names} --out {tmp}/g1 --lr 1e308", ["--lr", "float32"]),
    ("translate train --pairs {pairs} --out {tmp}/r1 --forget-bias 1e308", ["--forget-bias"]),
    ("memory --forget-bias 1e308", ["--forget-bias", "finite"]),
    # finding 7: tampered files are one line each
    ("generate {t_nested}", ["nested"]),
    ("train --resume {s_state_nested}", ["nested"]),
    ("generate {t_hidden_negative}", ["hidden_size must be an integer in 1..1048576, got -3"]),
    ("generate {t_two_char_symbol}", ["single characters"]),
    ("generate {t_int_symbols}", ["non-empty strings"]),
    ("generate {t_no_vocab}", ["malformed recurrent language model config: no .vocab."]),
    ("train --resume {t_training_list}", ["no training settings"]),
    ("train --resume {t_data_list}", ["data"]),
    ("train --resume {t_lr_text}", ["lr must be a positive number \\(float32\\), got 'abc'"]),
    ("train --resume {t_source_number}", ["source"]),
    ("train --resume {s_step_text}", ["step must be a count"]),
    ("train --resume {s_slot_shape}", ["shape"]),
    ("forecast predict {t_window0} --csv {series}", ["window must be a positive integer"]),
    # finding 10: values whose squares overflow
    ("forecast train --csv {huge_csv} --target y --out {tmp}/f2", ["rescale the column"]),
    # finding 11: refused rather than silently wrong
    ("generate {t_nan_weights}", ["NaN or infinite weights"]),
    ("scratch-train --steps 5 --lr 1e308 --clip 0", ["--lr", "float32"]),
    # finding 12: messages that name the option and the cause
    ("train --text {text} --out {tmp}/t5 --seed 99999999999999999999999", ["--seed", "2\\*\\*63"]),
    ("generate {lm} --seed -1", ["--seed"]),
    ("generate-from-label {cond} --vector {objects}", ["holds Python objects", "never loads"]),
    ("generate {t_mismatch}", ["does not fit its config"]),
    ("classify train --data {dup_csv} --out {tmp}/c1", ["columns 0 and 1 both 'name'"]),
    (
        "classify train --data {names} --out {tmp}/c2 --level word --min-count 100000000",
        ["--min-count"],
    ),
    ("train --text {text} --out {tmp}/t6 --sample-length -5", ["--sample-length"]),
    # the cases the command tests held before, one table now
    ("train --text {tmp}/missing.txt --out {tmp}/a", ["not found"]),
    ("train --text {empty} --out {tmp}/a", ["empty"]),
    ("train --text {binary} --out {tmp}/a", ["binary", "--level byte"]),
    ("train --text {latin} --out {tmp}/a", ["not valid utf-8", "--encoding", "--level byte"]),
    ("train --text {short} --out {tmp}/a", ["too short: 9 characters", "lower --batch-size"]),
    ("train --text {text} --out {lm}", ["already holds"]),
    # texts of any size: folders, several files, the new limits
    ("train --text {adir} --out {tmp}/a", ["holds no files"]),
    ("train --text {text} {tmp}/missing.txt --out {tmp}/a", ["not found", "missing.txt"]),
    ("train --text {text} {binary} --out {tmp}/a", ["binary.bin looks binary"]),
    ("train --text {text} --out {tmp}/a --level word --max-vocab 1", ["--max-vocab", ">= 2"]),
    ("train --text {text} --out {tmp}/a --val-limit 0", ["--val-limit", "positive"]),
    ("evaluate {lm} --text {text} --limit 0", ["--limit"]),
    # the transformer and compare
    ("train --text {text} --out {tmp}/a --arch transformer --cell gru", ["--cell applies to"]),
    ("train --text {text} --out {tmp}/a --heads 2", ["--heads applies to the transformer"]),
    ("train --text {text} --out {tmp}/a --arch transformer --hidden 10 --heads 4", ["multiple"]),
    ("train --text {text} --out {tmp}/a --arch transformer --context 1", ["--context", ">= 2"]),
    (
        "train --text {text} --out {tmp}/a --arch transformer --hidden 12 --positions rotary",
        ["rotary positions need an even head size, got 3"],
    ),
    ("train --text {text} --out {tmp}/a --arch attention", ["--arch", "invalid choice"]),
    ("generate {clf}", ["not a language model", "rnnlab.sequence_classifier"]),
    ("compare --text {text} --budget 1 --archs lstm,bert", ["unknown contender 'bert'"]),
    ("compare --text {text} --budget 1 --archs lstm,lstm", ["named twice"]),
    ("compare --text {text} --budget 0", ["--budget", "positive"]),
    ("compare --text {text} --budget 1 --out {lm}", ["--out", "holds a checkpoint"]),
    ("evaluate {lm} --text {text} {latin}", ["latin.txt", "not valid utf-8"]),
    ("generate {lm} --prime XYZ", ["the prime has 3 character", "'X'"]),
    ("generate {tmp}/nowhere", ["not found"]),
    ("generate {corrupt}", ["corrupt"]),
    ("evaluate {lm} --text {latin} --encoding latin-1", ["never saw"]),
    ("generate {lm} --temperature 0", ["--temperature: must be a positive number"]),
    ("generate {lm} --temperature -1", ["--temperature: must be a positive number"]),
    ("classify train --data {one_class} --out {tmp}/a", ["only one class"]),
    ("classify train --data {empty} {names} --out {tmp}/a", ["empty"]),
    (
        "classify train --data {names} --text-column review --out {tmp}/a",
        ["no column named 'review'"],
    ),
    ("classify train --data {tmp}/missing --out {tmp}/a", ["data not found"]),
    ("classify train --data {names} --out {clf}", ["already holds a checkpoint"]),
    ("classify predict {clf} ''", ["text 1 is empty"]),
    ("classify predict {clf}", ["nothing to classify"]),
    ("classify predict {tmp}/nowhere x", ["not found"]),
    # numeric series
    ("classify train --data {broken_ts} --out {tmp}/a", ["@univariate must be true or false"]),
    ("classify train --data {lying_ts} --out {tmp}/a", ["says 2 dimension.*series 1 has 3"]),
    ("classify train --data {one_class_ts} --out {tmp}/a", ["only one class"]),
    ("classify train --data {long_ts} --out {tmp}/a", ["100,001 steps; at most 100,000"]),
    ("classify train --data {channels_csv} --id-column id --out {tmp}/a", ["no values for chan"]),
    ("classify train --data {inf_csv} --id-column id --out {tmp}/a", ["series a has an infinite"]),
    ("classify train --data {nan_csv} --id-column id --out {tmp}/a", ["--missing carry"]),
    ("classify train --data {pickled_npz} --out {tmp}/a", ["holds Python objects"]),
    ("classify train --builtin Atlantis --out {tmp}/a", ["builtin data set must be one of"]),
    ("classify train --builtin FSDD --data {names} --out {tmp}/a", ["--data or --builtin, not"]),
    ("classify train --data {names} --out {tmp}/a --augment-jitter 0.1", ["numeric series, not"]),
    ("classify train --data {names} --out {tmp}/a --augment-slice 0", ["--augment-slice"]),
    ("classify predict {series_clf} 1,2", ["reads numeric series: give --data or --builtin"]),
    ("classify predict {clf} --builtin BasicMotions", ["reads texts"]),
    (
        "classify predict {series_clf} --builtin BasicMotions",
        ["has 6 channel.s.; the model reads 1"],
    ),
    ("classify evaluate {series_clf}", ["no data given"]),
    ("classify evaluate {clf} --data {new_labels}", ["label\\(s\\) the model was not trained on"]),
    (
        "classify train --data {names} --out {tmp}/a --lr 1e30 --clip 0 --warmup 1 --batch-size 2",
        ["diverged and stopped \\(no model saved\\)"],
    ),
    (
        "generate-from-label {cond} --label Klingon",
        ["unknown label 'Klingon'; the model knows long, short"],
    ),
    ("generate-from-label {cond} --vector {wrong}", ["must have 2 numbers"]),
    ("generate-from-label {cond} --vector {not_npy}", ["not a .npy array file"]),
    ("generate-from-label train --data {names} --out {cond}", ["already holds a checkpoint"]),
    ("translate train --pairs {bad_pairs} --out {tmp}/a", ["line 2: 1 tab-separated column"]),
    ("translate train --pairs {pairs} --out {tr}", ["already holds a checkpoint"]),
    ("translate {tr} '   '", ["sentence 1 is empty"]),
    (
        f"translate {{tr}} '{' '.join(['cat'] * 60)}'",
        ["60 word tokens; this model translates at most 50"],
    ),
    ("translate {tmp}/nowhere cat", ["not found"]),
    ("translate {tr_plain} cat --attention-plot {tmp}/a.png", ["no attention"]),
    ("chat train --dialogues {tmp}/missing.txt --out {tmp}/a", ["not found"]),
    ("chat train --dialogues {bad_talk} --out {tmp}/a", ["line 1: a conversation must start"]),
    ("chat train --dialogues {evil_yml} --out {tmp}/a", ["not valid YAML"]),
    ("chat train --dialogues {no_conversations_yml} --out {tmp}/a", ["no 'conversations:'"]),
    ("chat train --dialogues {adir} --out {tmp}/a", ["holds no .yml or .yaml file"]),
    ("chat train --dialogues {binary} --out {tmp}/a", ["binary"]),
    ("chat train --dialogues {talk} --out {chat} --test-fraction 0", ["already holds a"]),
    ("chat train --dialogues {talk} --out {tmp}/a --max-length 2", ["every reply is over 2"]),
    ("chat train --dialogues {talk} --builtin smalltalk --out {tmp}/a", ["not allowed with"]),
    ("chat {chat} --say '   '", ["nothing to reply to"]),
    ("chat {chat} --say hi --temperature 0", ["--temperature: must be a positive number"]),
    ("chat {chat} --say hi --beam 100000", ["beam width must be in 1..256"]),
    ("chat {tr} --say hi", ["not a chatbot"]),
    # a 1.2 MB argument cannot reach a program (the kernel's limit is 128 KiB an argument:
    # "Argument list too long"); a turn is read up to 10,000 characters
    ("chat {chat} --say '" + "ab " * 3_334 + "'", ["a turn has 10,001 symbols; at most 10,000"]),
    ("chat evaluate {chat} --dialogues {bad_talk}", ["line 1"]),
    ("speech transcribe {asr} {fake_wav}", ["fake.wav: not a readable audio file"]),
    ("speech transcribe {asr} {empty_wav}", ["empty_wav.wav: the recording holds no samples"]),
    ("speech transcribe {asr} {silent_wav}", ["silent_wav.wav: the recording is silent"]),
    ("speech transcribe {asr} {slow_wav}", ["2000 Hz cannot be used"]),
    ("speech transcribe {asr} {tmp}/missing.wav", ["missing.wav: No such file"]),
    ("speech transcribe {asr} {text}", ["not a readable audio file"]),
    ("speech transcribe {asr} {tone_wav} --beam 0", ["--beam", "1..256"]),
    ("speech transcribe {asr} {tone_wav} --lm {clf}", ["not a recurrent language model"]),
    ("speech transcribe {asr} {tone_wav} --lm {lm}", ["does not know the character"]),
    ("speech transcribe {lm} {tone_wav}", ["not a speech recognizer"]),
    ("speech evaluate {asr} --data {xyz_manifest} --split all", ["1 with characters", "no utt"]),
    ("speech evaluate {asr} --data {abc_manifest}", ["no split column; use --split all"]),
    ("speech evaluate {asr} --data {dev_manifest}", ["split must be train or test, got 'dev'"]),
    ("speech train --data {gone_manifest} --out {tmp}/a", ["no usable", "recording is missing"]),
    ("speech train --data {no_path_manifest} --out {tmp}/a", ["needs the columns path and"]),
    ("speech train --data {tmp}/nowhere.csv --out {tmp}/a", ["nowhere.csv: No such file"]),
    ("speech train --data {tone_wav} --out {tmp}/a", ["tone_wav.wav is not UTF-8 text"]),
    ("speech train --data {binary} --out {tmp}/a", ["needs the columns path and transcript"]),
    ("speech train --data {abc_manifest} --out {asr}", ["already holds a checkpoint"]),
    ("speech train --data {abc_manifest} --out {tmp}/a --n-mels 500", ["--n-mels", "8..128"]),
    ("speech make-data --out {made}", ["already holds a data set"]),
    ("speech make-data --out {tmp}/d --transcripts {empty}", ["empty.txt is empty"]),
    ("speech make-data --out {tmp}/d --speed 0.9", ["--speed", r"\[0, 0.5\)"]),
    ("forecast train --csv {series} --target y --out {fc}", ["already holds a checkpoint"]),
    ("inspect gradients --cells lstm:identity", ["identity init"]),
    ("inspect gradients --cells nope", ["cell must be one of"]),
    ("inspect gradients --distance 0", ["positive integer"]),
    ("inspect gradients {lm} --text {short} --distance 50000", ["too short"]),
    ("inspect gradients {tmp}/MISSING", ["MISSING"]),
    ("inspect states {lm} --text 'line ~'", ["never saw"]),
    ("inspect states {lm} --text tea --layer 5", ["--layer"]),
    ("inspect states {lm} --text tea --unit 99", ["--unit"]),
    ("inspect states {lm} --text tea --state x", ["invalid choice"]),
    ("inspect states {lm}", ["required"]),
    ("inspect", ["required"]),
    ("memory --cells rnn:bogus", ["init must be one of"]),
    ("memory --sweep --lengths 1,x", ["integers"]),
    ("memory --task sort", ["invalid choice"]),
    ("memory --forget-bias inf", ["finite"]),
    # issue 41, finding 1: a transformer's context longer than the text is refused, as a
    # recurrent --seq-len is (it trained "12 streams x 200000 steps" before)
    ("train --arch transformer --context 200000 --text {text} --out {tmp}/x", ["--context"]),
    ("train --seq-len 200000 --text {text} --out {tmp}/x", ["too short", "--seq-len"]),
    # issue 41, finding 3: a data set is not written into a checkpoint; only regular files
    # are read as recordings (a FIFO hung)
    ("speech make-data --out {asr} --utterances 2", ["holds a checkpoint"]),
    ("speech make-data --out {lm} --utterances 2", ["holds a checkpoint"]),
    ("speech transcribe {asr} {pipe}", ["pipe is not a regular file"]),
    ("speech transcribe {asr} {adir}", ["adir is not a regular file"]),
    # issue 41, findings 1 and 4: a field over csv's limit is one line naming the file and
    # the line (a traceback before); a transcript line too long to speak is refused up front
    ("classify train --data {huge_field} --out {tmp}/x", ["huge_field.csv, line 2: field larger"]),
    ("chat train --dialogues {huge_field_tsv} --out {tmp}/x", ["line 1: field larger"]),
    (
        "speech make-data --transcripts {long_line_talk} --out {tmp}/d",
        ["line 1: 840,000 characters; an utterance speaks at most 500"],
    ),
    ("speech train --data {pipe} --out {tmp}/x", ["pipe is not a regular file"]),
    (  # it wrote 695 MB of WAVs in 2 minutes before: the disk it needs is estimated first
        "speech make-data --out {tmp}/d --utterances 1000000000000",
        ["speaking 1,000,000,000,000 utterances needs about .* of disk; .* is free"],
    ),
    (  # the extra field in row 2 became an index: "np.float64(nan) at row 3" before
        "forecast train --csv {ragged_csv} --target y --out {tmp}/x",
        ["a row has more fields than the header"],
    ),
    # resuming: every task's run resumes; these are refused, and nothing saved changes
    ("train --resume {lm}", [r"is finished \(34 steps\); there is nothing to resume"]),
    ("chat train --resume {chat}", ["is finished", "nothing to resume"]),
    ("classify train --resume {lm}", ["holds a rnnlab.language_model checkpoint, not a run of"]),
    ("forecast train --resume {chat}", ["not a run of rnnlab forecast train"]),
    ("train --resume {clf}", ["rnnlab.sequence_classifier checkpoint, not a run of rnnlab train"]),
    ("classify train --resume {clf}", ["holds no trainer_state.safetensors"]),
    ("chat train --resume {chat} --hidden 99", ["--hidden differs from the run"]),
    ("chat train --resume {chat} --builtin smalltalk", ["the data differs from the one"]),
    ("translate train --resume {tmp}/nowhere", ["not found|no such|does not exist"]),
    # export: what a format cannot hold, options of another format, places it may not write
    ("export {clf} --format html --out {tmp}/x.html", ["HTML page runs recurrent language"]),
    ("export {cond} --format html --out {tmp}/x.html", ["this is a conditional generator"]),
    ("export {lm} --format html --out {tmp}/x.html --quantize int8", ["--quantize applies to"]),
    ("export {lm} --format onnx --out {tmp}/x.onnx --half", ["--half applies to --format html"]),
    ("export {lm} --format hub --out {tmp}/h --text {text}", ["--text applies to --format html"]),
    ("export {lm} --format onnx --out {tmp}/x.txt", [r"name ends in \.onnx"]),
    ("export {lm} --format html --out {tmp}/x.onnx", [r"name ends in \.html"]),
    ("export {lm} --format onnx --out {lm}/model.onnx", ["inside the checkpoint"]),
    ("export {lm} --format onnx --out {clf}/model.onnx", ["holds a checkpoint; write the export"]),
    ("export {lm} --format onnx --out {lm}/config.json", ["file of the checkpoint"]),
    ("export {lm} --format hub --out {clf}", ["holds a checkpoint"]),
    ("export {lm} --format hub --out {lm}/card", ["inside the checkpoint"]),
    ("export {lm} --format onnx --out {pipe}", ["not a regular file"]),
    ("export {lm} --format onnx --out {tmp}/pipe.onnx", ["pipe.json is not a regular file"]),
    ("export {lm} --format onnx --out {adir}", ["is a directory"]),
    ("export {lm} --format pdf --out {tmp}/x.pdf", ["invalid choice"]),
    ("export {text} --format onnx --out {tmp}/x.onnx", ["not a directory"]),
    ("export {t_nan_weights} --format onnx --out {tmp}/x.onnx", ["NaN or infinite"]),
]


def run(args: list[str]) -> tuple[int, list[str], str]:
    """Run the command in this process: its exit status, stderr lines and any traceback."""
    err, out = io.StringIO(), io.StringIO()
    crash = ""
    with (
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(out),
        warnings.catch_warnings(record=True) as warned,  # each would be a line on stderr
    ):
        warnings.simplefilter("always")
        try:
            code = main(args)
        except SystemExit as exit_info:
            code = exit_info.code
        except Exception as error:  # a traceback would have reached the user
            code, crash = -1, f"{type(error).__name__}: {error}"
    lines = [f"warning: {w.message}" for w in warned] + err.getvalue().strip().splitlines()
    return code, lines, crash


def fingerprint(root: str) -> dict[str, str]:
    """The hash of every file of every checkpoint under ``root``."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(root).glob("*/*"))
        if path.is_file() and (path.parent / "config.json").is_file()
    }


def check_refused(place, line: str, fragments: list[str], before: dict | None = None) -> None:
    before = before or fingerprint(place["tmp"])
    args = [a.format(**place) for a in shlex.split(line)]
    code, err, crash = run(args)
    assert not crash, f"{line}: traceback {crash}"
    assert code == 2, f"{line}: exit {code}, stderr {err}"
    assert len(err) == 1 and err[0].startswith("rnnlab: error: "), f"{line}: {err}"
    for fragment in fragments:
        assert re.search(fragment, err[0]), f"{line}: {err[0]}"
    after = fingerprint(place["tmp"])
    assert {k: after.get(k) for k in before} == before, f"{line} changed a saved file"
    assert stat.S_ISFIFO(os.stat(place["pipe"]).st_mode), f"{line} replaced a pipe"
    leftovers = [p.name for p in Path(place["tmp"]).glob("*/.*.tmp-*")]
    assert not leftovers, f"{line} left temporary files {leftovers}"


@pytest.mark.parametrize(("line", "fragments"), CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_is_one_line_and_status_2(place, line, fragments):
    check_refused(place, line, fragments)


#: commands that save, and what they write, run while the disk is full (every fsync fails)
DISK_FULL = [
    "train --text {text} --out {tmp}/full1 " + LM_SMALL,
    "train --resume {s_unfinished}",
    "classify train --data {names} --out {tmp}/full2 " + SMALL,
    "classify evaluate {clf} --data {names} --out {tmp}/full3",
    "inspect states {lm} --text tea --out {tmp}/full4",
    "scratch-train --steps 2 --hidden 8 --save {tmp}/full5.npz",
]


@pytest.mark.parametrize("line", DISK_FULL, ids=[c[:40] for c in DISK_FULL])
def test_a_full_disk_is_one_line_and_damages_nothing(place, line, monkeypatch):
    before = fingerprint(place["tmp"])

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    check_refused(place, line, ["No space left on device"], before)


def test_a_full_token_cache_is_one_line_naming_the_cache_file(place, tmp_path, monkeypatch):
    """Issue 41, finding 4: "No space left on device" did not say where."""
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    check_refused(
        place,
        "train --text {text} --out {tmp}/cachefull " + LM_SMALL,
        [f"{tmp_path / 'cache'}/.*ids: No space left on device"],
    )
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # the partial token file is gone


def test_a_read_only_place_is_refused_before_training_starts(place, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("rnnlab.outputs.tempfile.TemporaryFile", read_only)
    monkeypatch.setattr("rnnlab.training.loop.Loop._fit", lambda self: pytest.fail("it trained"))
    check_refused(place, "train --resume {s_unfinished}", ["cannot write in", "Read-only file"])
    check_refused(place, "classify evaluate {clf} --data {names} --out {tmp}/ro", ["Read-only"])


#: Python, and the folders it imports from, as a user without privileges can run them
UNPRIVILEGED = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
CLI = "import sys; from rnnlab.cli import main; sys.exit(main(sys.argv[1:]))"


def unprivileged_python() -> list[str] | None:
    """A command that runs Python with rnnlab importable as user ``nobody``: this Python run
    through ``setpriv`` (as root), or as it is (as any other user); None if there is none
    (a Python that lies under a private folder, no ``setpriv``)."""
    if os.geteuid() != 0:
        return [sys.executable]
    if shutil.which("setpriv") is None:
        return None
    import rnnlab

    path = [str(Path(rnnlab.__file__).parents[1]), *sysconfig.get_paths().values()]
    path += [p for p in sys.path if p.endswith("site-packages")]
    for python in (sys.executable, sys._base_executable, f"/usr/bin/python{sys.version[:4]}"):
        command = [*UNPRIVILEGED, "env", f"PYTHONPATH={os.pathsep.join(path)}", python]
        probe = subprocess.run([*command, "-c", "import rnnlab"], capture_output=True)
        if probe.returncode == 0:
            return command
    return None


def test_unreadable_and_unwritable_places_are_one_line():
    python = unprivileged_python()
    if python is None:
        pytest.skip("no Python that an unprivileged user may run (root reads every file)")
    root = Path(tempfile.mkdtemp())  # /tmp: reachable by every user, unlike pytest's tmp_path
    try:
        root.chmod(0o755)
        for name in ("locked", "read_only"):
            shutil.copytree(FIXTURES / "language", root / name)
        (root / "locked" / WEIGHTS).chmod(0)
        (root / "secret.txt").write_text("secret text\n" * 50)
        (root / "secret.txt").chmod(0)
        (root / "private").mkdir(mode=0o700)
        (root / "open").mkdir()
        (root / "open").chmod(0o777)
        (root / "read_only").chmod(0o555)
        cases = [
            (f"generate {root}/locked", f"{root}/locked/model.safetensors: Permission denied"),
            (f"train --text {root}/secret.txt --out {root}/open/o", "cannot read .*Permission"),
            (f"train --resume {root}/read_only", f"cannot write in {root}/read_only"),
            (f"train --text {root}/secret.txt --out {root}/read_only/x", "cannot write in"),
            (f"inspect states {root}/read_only --text tea --out {root}/private/x", "cannot write"),
            (f"generate {root}/private/ck", "Permission denied"),
        ]
        before = {p: p.read_bytes() for p in (root / "read_only").iterdir()}
        for line, fragment in cases:
            done = subprocess.run(
                [*python, "-c", CLI, *shlex.split(line)], capture_output=True, text=True
            )
            err = done.stderr.strip().splitlines()
            assert done.returncode == 2, (line, done.stderr)
            assert len(err) == 1 and err[0].startswith("rnnlab: error: "), (line, err)
            assert re.search(fragment, err[0]), (line, err[0])
        assert {p: p.read_bytes() for p in (root / "read_only").iterdir()} == before
    finally:
        for folder in (root / "read_only", root / "private"):
            folder.chmod(0o755)
        shutil.rmtree(root)
