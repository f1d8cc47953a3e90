# Thin wrapper over scripts/ and CMake; the scripts do the work.
.PHONY: all test bench bench-sweep asan fuzz clean format

all:
	scripts/build.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

# The capacity of each architecture (shopflow bench --sweep), about 6-10 min.
bench-sweep:
	scripts/bench.sh --sweep

asan:
	scripts/test.sh --asan

# libFuzzer runs (clang): `make fuzz FUZZ_SECONDS=N` per target, default 60.
fuzz:
	FUZZ_SECONDS="$(FUZZ_SECONDS)" scripts/fuzz.sh

clean:
	-build/bin/shopflow db stop 2>/dev/null
	rm -rf build build-asan build-fuzz

format:
	find base proto rpc mq services bench tools tests examples -name '*.[ch]' | xargs clang-format -i
