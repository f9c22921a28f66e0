"""Build hook: ship the model library (``bpmn/``) and the migrations (``alembic/``) inside
the wheel as ``processes/_data/``, where :func:`processes.library.data_dir` finds them.
An editable install reads them from the checkout instead. Everything else is in
``pyproject.toml``."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ("bpmn", "alembic")


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        for name in DATA:
            target = Path(self.build_lib) / "processes" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)  # a file deleted from the checkout stays deleted
            shutil.copytree(root / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


setup(cmdclass={"build_py": build_py_with_data})
