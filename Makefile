# The two commands a user needs: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench lab dashboard clean install sample calibrate backtest-real

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rebatelab demo --data data/sample --programs data/sample/programs.yaml --out out/demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax notebooks tests rebatelab

test-fast: $(STAMP)
	$(BIN)/python -m pytest -x -q tests rebatelab -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy rebatelab

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# A closed page leaves its kernel without a connection: it is culled once idle for
# CULL_IDLE seconds (checked every CULL_EVERY); an open page's kernel is never culled.
CULL_IDLE ?= 120
CULL_EVERY ?= 30

dashboard: $(STAMP)
	# dashboards at http://127.0.0.1:8866/voila/render/0N_<name>.ipynb
	$(BIN)/voila --no-browser --Voila.ip=127.0.0.1 \
		--MappingKernelManager.cull_idle_timeout=$(CULL_IDLE) \
		--MappingKernelManager.cull_interval=$(CULL_EVERY) \
		--MappingKernelManager.cull_connected=False \
		--MappingKernelManager.cull_busy=False \
		notebooks/

clean:
	rm -rf $(VENV) out .pytest_cache

# regenerate the bundled sample (rebatelab/datasets/sample; data/sample links to it) with the
# simulator (see docs/simulation.md)
SAMPLE_DIR := rebatelab/datasets/sample
sample: $(STAMP)
	$(BIN)/rebatelab simulate --customers 400 --seed 2026 --start 2024-10-01 --end 2026-09-30 \
	  --out $(SAMPLE_DIR) --set order_rate_mean=10 lifetime_mean_years=4 new_customer_share=0.25 \
	  lines_per_order=5 order_value_mean=1200 order_value_q=2.5
	$(BIN)/python scripts/sample_payments.py $(SAMPLE_DIR)

# compare the simulator with the real Online Retail data (needs ../shared/data)
calibrate: $(STAMP)
	$(BIN)/python scripts/calibrate_simulator.py

# backtest the forecasts on the real Online Retail data (needs ../shared/data; ~4 min)
backtest-real: $(STAMP)
	$(BIN)/python scripts/backtest_online_retail.py
