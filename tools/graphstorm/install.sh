#!/usr/bin/env bash
# A GraphStorm virtual environment for Python 3.11 on Linux x86_64, CPU, from PyPI only
# (about 5.6 GB, 2 to 5 minutes). Usage: tools/graphstorm/install.sh VENV_DIR
#
# Why these pins (docs/graphstorm.md, "Versions"):
#  - dgl 2.1.0 is the newest DGL on PyPI for CPython 3.11; its wheel ships the graphbolt and
#    sparse libraries only for torch 2.0.0 to 2.2.1 -> torch 2.2.1 (the CUDA 12.1 build, the
#    only x86_64 torch on PyPI; it runs on CPU, but needs its nvidia-* wheels to import).
#  - graphstorm pins torchdata 0.9.0, which needs torch >= 2.3 -> torchdata 0.7.1 and
#    graphstorm with --no-deps (graphstorm never imports torchdata; DGL's graphbolt does).
#  - graphstorm 0.5.1 imports autogluon, which needs torch >= 2.3 -> graphstorm 0.5.0.post1.
#  - torch 2.2.1 is built against numpy 1.x -> numpy < 2; pyarrow >= 20 needs numpy 2 -> < 20.
set -euo pipefail
venv=${1:?usage: install.sh VENV_DIR}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import graphstorm, dgl.distributed" 2>/dev/null; then
  echo "$venv: GraphStorm already installed" >&2
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q \
  torch==2.2.1 dgl==2.1.0 torchdata==0.7.1 \
  'numpy<2' 'pandas<3' 'pyarrow<20' \
  transformers==4.48.0 ogb==1.3.6 h5py scikit-learn pydantic psutil packaging
"$venv/bin/pip" install -q --no-deps graphstorm==0.5.0.post1
"$venv/bin/python" -c "import torch, dgl, graphstorm, dgl.distributed, graphstorm.gconstruct.construct_graph; print('GraphStorm', graphstorm.__version__, 'torch', torch.__version__, 'dgl', dgl.__version__)"
