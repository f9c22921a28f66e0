"""A municipality's folder uploaded as a zip file: unpacked safely, then validated exactly
as ``sagsflow municipality add`` validates a folder (:func:`processes.municipalities.load_folder`).

A zip is untrusted input. It is never unpacked with ``extractall``: every entry is
checked first, and all problems are reported together as ``file: element: problem``:

- names that leave the folder (absolute paths, drive letters, ``..``, backslashes, NUL),
  duplicates, symbolic links and other special files, and encrypted entries are refused;
- a zip bomb is refused by the number of entries, each entry's declared size and
  compression ratio, and the total size; while unpacking, the bytes actually read are
  counted too, because declared sizes can lie.

Only if there is no problem are the regular files written (by this code) into a fresh
temporary folder that is removed afterwards.
"""
from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from processes.library import ModelInvalid, Problem
from processes.municipalities import MunicipalityConfig, load_folder

MAX_ENTRIES = 200
MAX_ENTRY_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 20 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, for entries larger than RATIO_FROM
RATIO_FROM = 64 * 1024


def _name_problem(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "the name holds a backslash or NUL"
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path leaves the folder"
    if ".." in path.parts:
        return "a path with .. leaves the folder"
    return None


def _kind(info: zipfile.ZipInfo) -> str:
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip was not made on Unix
    if kind == stat.S_IFLNK:
        return "symlink"
    if info.is_dir() or kind == stat.S_IFDIR:
        return "dir"
    return "file" if kind in (0, stat.S_IFREG) else "special"


def check_entries(archive: zipfile.ZipFile, upload: str) -> list[Problem]:
    """Every problem with the archive's entries, before anything is unpacked."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        return [Problem(upload, "", f"{len(infos)} entries; at most {MAX_ENTRIES} are accepted")]
    problems, seen, total = [], set(), 0
    for info in infos:
        name = info.filename
        problem = _name_problem(name)
        kind = _kind(info)
        if problem is None and kind == "symlink":
            problem = "a symbolic link is not accepted"
        elif problem is None and kind == "special":
            problem = "only regular files and folders are accepted"
        elif problem is None and info.flag_bits & 0x1:
            problem = "an encrypted entry is not accepted"
        elif problem is None and name.rstrip("/") in seen:
            problem = "the name occurs twice"
        elif problem is None and info.file_size > MAX_ENTRY_BYTES:
            problem = f"{info.file_size} bytes unpacked; at most {MAX_ENTRY_BYTES} per file"
        elif problem is None and info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            problem = f"compressed {info.file_size // max(info.compress_size, 1)} to 1; a zip bomb is refused"
        if problem:
            problems.append(Problem(f"{upload}: {name}" if name else upload, "", problem))
        seen.add(name.rstrip("/"))
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        problems.append(Problem(upload, "", f"{total} bytes unpacked; at most {MAX_TOTAL_BYTES} in all"))
    return problems


def _root(names: list[str]) -> str:
    """The folder inside the zip that holds ``municipality.json``: the top, or the one
    folder everything is in (what zipping a folder gives)."""
    if "municipality.json" in names:
        return ""
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/municipality.json" in names:
            return top
    return ""


def _unpack(archive: zipfile.ZipFile, target: Path, upload: str) -> None:
    """Write the regular files under ``target``, counting the bytes actually read."""
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = target.joinpath(*PurePosixPath(info.filename).parts)
        if not path.resolve().is_relative_to(target.resolve()):  # checked above; kept as a guard
            raise ModelInvalid([Problem(f"{upload}: {info.filename}", "", "the path leaves the folder")])
        path.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(path, "xb") as sink:
            while chunk := source.read(64 * 1024):
                total += len(chunk)
                if total > MAX_TOTAL_BYTES or sink.tell() + len(chunk) > MAX_ENTRY_BYTES:
                    raise ModelInvalid([Problem(f"{upload}: {info.filename}", "",
                                                "unpacks to more than it declares; a zip bomb is refused")])
                sink.write(chunk)


@contextmanager
def unpacked(data: bytes, upload: str = "upload.zip") -> Iterator[tuple[Path, Path]]:
    """Unpack the zip into a temporary folder that is removed on leaving; yields that
    folder and the folder in it with ``municipality.json``. :class:`ModelInvalid` lists
    every problem (nothing is unpacked when there is one)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ModelInvalid([Problem(upload, "", f"not a zip file ({exc})")]) from None
    with archive:
        problems = check_entries(archive, upload)
        if problems:
            raise ModelInvalid(problems)
        root = _root([i.filename.rstrip("/") for i in archive.infolist()])
        with tempfile.TemporaryDirectory(prefix="sagsflow-upload-") as tmp:
            target = Path(tmp)
            try:
                _unpack(archive, target, upload)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise ModelInvalid([Problem(upload, "", f"cannot be unpacked ({exc})")]) from None
            yield target, target / root if root else target


def load_zip(data: bytes, upload: str = "upload.zip") -> MunicipalityConfig:
    """Validate a zipped municipality folder as ``sagsflow municipality add`` validates a
    folder. Problems name files as they are in the zip (``kommune/municipality.json``)."""
    with unpacked(data, upload) as (target, folder):
        try:
            return load_folder(folder)
        except ModelInvalid as exc:
            raise ModelInvalid([Problem(_in_zip(p.file, target, upload), p.element, p.message)
                                for p in exc.problems]) from None


def _in_zip(file: str, target: Path, upload: str) -> str:
    """A problem's file name as the zip names it (never the temporary folder's path)."""
    top = str(target)
    if file == top:
        return upload
    return file[len(top) + 1:] if file.startswith(top + "/") else file
