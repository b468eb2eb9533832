# tests/fuzz/fuzz.mk - the libFuzzer targets of tests/fuzz/, included by the
# top-level Makefile (after its variables: it uses B, LIB_SRC, PKG_CFLAGS,
# PKG_LIBS, WARN). See docs/fuzzing.md.
#
#   make fuzz           build every fuzz_*.c with clang, libFuzzer, ASan and
#                       UBSan, and run each for FUZZ_SECONDS (default 60)
#                       on its corpus; FUZZ_TARGETS="cron tz" picks some
#   make fuzz-build     only build them
#   make fuzz-replay    no clang needed: each target linked with
#                       tests/fuzz/replay.c, built with $(CC) under
#                       ASan+UBSan, replays tests/fuzz/corpus/<target>/
#                       (seeds and the reproducers of fixed bugs) once
#
# Objects go under $(B)/fuzz/ and $(B)/fuzz-replay/, each built like
# libfloq.a from all of LIB_SRC into an archive, so a target links only the
# objects it needs. New inputs a run finds go to $(B)/fuzz/corpus/<target>/
# (the checked-in corpus is read, never written); crashes to
# $(B)/fuzz/artifacts/<target>/.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
# Extra libFuzzer flags for every target, e.g. FUZZ_FLAGS=-use_value_profile=1.
FUZZ_FLAGS   ?=

# Longest input per target: a codec message is small and its bounds are
# checked per field; a cron expression is at most 1024 characters (plus
# the start instant and a TZ rule); real TZif files are under 4 KiB; a
# lineage input is a few JSON lines.
FUZZ_MAXLEN_codec   := 4096
FUZZ_MAXLEN_cron    := 1200
FUZZ_MAXLEN_tz      := 8192
FUZZ_MAXLEN_lineage := 8192
# Every input must finish well within this many seconds.
FUZZ_TIMEOUT ?= 10

FUZZ_B  := $(B)/fuzz
RPLY_B  := $(B)/fuzz-replay

FUZZ_COMMON_CFLAGS = -std=c11 -D_GNU_SOURCE -g -fno-omit-frame-pointer \
        $(WARN) -I. -Icommon -Ischemas -Iproducer -Ilineage -Iworker \
        -I$(B)/gen $(PKG_CFLAGS)
# Everything is instrumented for coverage; only the targets get libFuzzer's
# main(). UBSan aborts, so libFuzzer sees undefined behaviour as a crash.
FUZZ_SAN_LIB := -fsanitize=fuzzer-no-link,address,undefined \
        -fno-sanitize-recover=all
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
RPLY_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined

FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_B)/%.o) $(FUZZ_B)/gen/schemas_embed.o
RPLY_LIB_OBJ := $(LIB_SRC:%.c=$(RPLY_B)/%.o) $(RPLY_B)/gen/schemas_embed.o
FUZZ_BINS    := $(FUZZ_ALL:%=$(FUZZ_B)/bin/fuzz_%)
RPLY_BINS    := $(FUZZ_ALL:%=$(RPLY_B)/bin/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-replay
# The targets' objects come from chained pattern rules: keep them.
.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_B)/tests/fuzz/fuzz_%.o) \
            $(FUZZ_ALL:%=$(RPLY_B)/tests/fuzz/fuzz_%.o) \
            $(RPLY_B)/tests/fuzz/replay.o

# ---- libFuzzer (clang)
# clang's -Wformat=2 also wants format attributes on va_list helpers
# (common/log.c has none); gcc's does not.
FUZZ_CLANG_CFLAGS = $(FUZZ_COMMON_CFLAGS) -O1 -Wno-format-nonliteral \
        $(FUZZ_SAN_LIB)

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CLANG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_B)/gen/schemas_embed.o: $(B)/gen/schemas_embed.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CLANG_CFLAGS) -c $< -o $@

$(FUZZ_B)/libfloq-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_B)/bin/fuzz_%: $(FUZZ_B)/tests/fuzz/fuzz_%.o $(FUZZ_B)/libfloq-fuzz.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-build: $(FUZZ_BINS)

# target:max_len pairs, so the shell loop gets make's per-target values
FUZZ_RUNS = $(foreach t,$(FUZZ_TARGETS),$(t):$(or $(FUZZ_MAXLEN_$(t)),4096))

fuzz: fuzz-build
	@set -e; for tl in $(FUZZ_RUNS); do \
	    t=$${tl%%:*}; maxlen=$${tl#*:}; \
	    mkdir -p $(FUZZ_B)/corpus/$$t $(FUZZ_B)/artifacts/$$t; \
	    dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_B)/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=$$maxlen -timeout=$(FUZZ_TIMEOUT) \
	        -print_final_stats=1 $$dict \
	        -artifact_prefix=$(FUZZ_B)/artifacts/$$t/ $(FUZZ_FLAGS) \
	        $(FUZZ_B)/corpus/$$t tests/fuzz/corpus/$$t; \
	done

# ---- replay (gcc or any $(CC), no libFuzzer)
$(RPLY_B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_COMMON_CFLAGS) -O1 $(RPLY_SAN) -MMD -MP -c $< -o $@

$(RPLY_B)/gen/schemas_embed.o: $(B)/gen/schemas_embed.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_COMMON_CFLAGS) -O1 $(RPLY_SAN) -c $< -o $@

$(RPLY_B)/libfloq-fuzz.a: $(RPLY_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(RPLY_B)/bin/fuzz_%: $(RPLY_B)/tests/fuzz/fuzz_%.o \
                      $(RPLY_B)/tests/fuzz/replay.o $(RPLY_B)/libfloq-fuzz.a
	@mkdir -p $(@D)
	$(CC) $(RPLY_SAN) -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-replay: $(RPLY_BINS)
	@set -e; for t in $(FUZZ_ALL); do \
	    ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	        $(RPLY_B)/bin/fuzz_$$t tests/fuzz/corpus/$$t 2>$(RPLY_B)/$$t.log \
	        || { cat $(RPLY_B)/$$t.log; echo "fuzz-replay: fuzz_$$t FAILED"; \
	             exit 1; }; \
	done
