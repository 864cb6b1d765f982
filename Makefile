# shotoku: two commands do all set-up on a fresh machine.
#   make demo   build an example song, separate it with the default method, score it
#   make test   the same set-up plus test extras, then the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := fluidsynth timgm6mb-soundfont espeak-ng ffmpeg chromium musescore-general-soundfont-small musescore-general-soundfont csound-soundfont opl3-soundfont denemo-data fluid-soundfont-gm hydrogen-drumkits sonic-pi-samples lmms-common fretsonfire-songs-muldjord fretsonfire-songs-sectoid mma festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
SOUNDFONT := /usr/share/sounds/sf2/TimGM6mb.sf2

.PHONY: demo test system-deps install install-test bench clean

demo: install
	$(PY) -m shotoku demo --outdir demo-output

test: install-test
	$(PY) -m pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian packages: fluidsynth, soundfonts, drum kits, loops, recorded guitar, mma grooves, festival
# and espeak-ng voices (the synthetic multitrack generator, docs/data.md; FluidR3 is held out for
# evaluation); ffmpeg (museval/stempeg look for it at import); chromium (the console's browser test).
# Installed when running as root, else the exact line to run.
system-deps:
	@missing=""; \
	for c in fluidsynth espeak-ng ffmpeg chromium mma festival; do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	for f in $(SOUNDFONT) /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 /usr/share/sounds/sf3/MuseScore_General_Full.sf3 \
	  /usr/share/sounds/sf2/sf_GMbank.sf2 /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 /usr/share/sounds/sf2/A320U.sf2 \
	  /usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/hydrogen/data/drumkits /usr/share/sonic-pi/samples /usr/share/lmms/samples \
	  /usr/share/games/fretsonfire/data/songs/muldjord /usr/share/games/fretsonfire/data/songs/sectoid \
	  /usr/share/festival/voices/english/kal_diphone /usr/share/festival/voices/english/ked_diphone \
	  /usr/share/festival/voices/us/cmu_us_slt_arctic_hts; do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "shotoku needs Debian packages that are missing:$$missing"; \
	    echo "run:  sudo apt-get update && sudo apt-get install -y $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins the CPU build of PyTorch; pyproject.toml states an ordinary range.
$(VENV)/.installed: pyproject.toml constraints.txt | system-deps $(VENV)/bin/python
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[all]'
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | system-deps $(VENV)/bin/python
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(VENV)/.installed $@

bench: install-test
	$(PY) bench/metrics.py
	$(PY) bench/spatial.py
	$(PY) bench/projet.py
	$(PY) bench/synth.py
	$(PY) bench/models.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
