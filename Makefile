# floq - one non-recursive Makefile for the whole tree.
#
#   make            build libfloq (static + shared), the programs, the tests
#   make test       unit tests (Check, fork mode, one process per case)
#   make itest      integration tests; against FLOQ_BROKERS when set, else
#                   a real broker started by ops/kafka/kafka.sh
#                   (TESTS=0003 make itest runs the tests numbered 0003)
#   make asan       everything built with ASan+UBSan in build-asan/, unit
#                   tests run there
#   make valgrind   unit tests under valgrind (leaks are errors)
#   make bench      benchmarks against limits measured in the same run, with
#                   PASS/MISS against issue 13's targets (docs/benchmarks.md)
#   make demo       a demo fleet on the embedded (mock) broker
#   make install    PREFIX=/usr/local DESTDIR= : programs, headers, libfloq,
#                   floq.pc, man pages
#   make fuzz       the libFuzzer targets of tests/fuzz/ (needs clang), each
#                   for FUZZ_SECONDS; make fuzz-replay replays their corpus
#                   with $(CC) under ASan+UBSan (see docs/fuzzing.md)
#
# Objects and binaries go under $(B) (build/ by default); CI=true adds
# -Werror.

B        ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKG_CONFIG ?= pkg-config
VERSION  := 0.1.0

PKGS     := rdkafka avro-c jansson libcurl libmicrohttpd uuid libcrypto libsystemd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

WARN     := -Wall -Wextra -Wformat=2 -Wvla -Wstrict-prototypes -Wshadow \
            -Wno-missing-field-initializers
ifneq ($(filter true 1 yes,$(CI)),)
WARN     += -Werror
endif
OPT      ?= -O2 -g
CFLAGS   ?=
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(OPT) $(WARN) $(SAN) \
             -I. -Icommon -Ischemas -Iproducer -Ilineage -Iworker -Iconsole -I$(B)/gen $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LIBS     := $(PKG_LIBS) -lpthread -lm

# The client library (libfloq): what producers link.
LIB_SRC  := $(wildcard common/*.c schemas/*.c producer/*.c lineage/*.c)
LIB_SRC  := $(filter-out %/main.c %_main.c,$(LIB_SRC))
# The worker's code, linked into floq-worker and the tests.
WRK_SRC  := $(filter-out %/main.c %_main.c,$(wildcard worker/*.c worker/backends/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/schemas_embed.o
WRK_OBJ  := $(WRK_SRC:%.c=$(B)/%.o) $(B)/gen/supervise_embed.o
# The process backend's supervisor: a libc-only program embedded in the
# worker (worker/backends/supervise.h), started with posix_spawn().
SUPERVISE := $(B)/libexec/floq-supervise
# Linked statically where libc.a exists (not under the sanitizers): no
# dynamic loader to run at every start.
SUPERVISE_STATIC := $(if $(wildcard /usr/lib/*/libc.a /usr/lib/libc.a),-static -s)
# The console's code (console/), linked into floq-console and the tests.
CON_SRC  := $(filter-out %/main.c,$(wildcard console/*.c))
CON_OBJ  := $(CON_SRC:%.c=$(B)/%.o)

LIBFLOQ_A  := $(B)/libfloq.a
LIBFLOQ_SO := $(B)/libfloq.so.0
WORKER_A   := $(B)/libfloq-worker.a
CONSOLE_A  := $(B)/libfloq-console.a

# Programs: thin main.c files over the libraries; each is built when its
# main exists.
PROG_floq            := producer/main.c
PROG_floq-worker     := worker/main.c
PROG_floq-lineage    := lineage/main.c
PROG_floq-mock-broker := ops/mock_broker_main.c
PROG_floq-console    := console/main.c
PROGS := $(foreach p,floq floq-worker floq-lineage floq-mock-broker floq-console,\
           $(if $(wildcard $(PROG_$(p))),$(B)/bin/$(p)))

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
TEST_HELPER_OBJ := $(TEST_HELPERS:%.c=$(B)/%.o)
ITEST_C    := $(wildcard tests/integration/*.c)
ITEST_BINS := $(ITEST_C:tests/integration/%.c=$(B)/itests/%)
BENCH_C    := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_C:tests/bench/%.c=$(B)/bench/%)
FUZZ_C     := $(wildcard tests/fuzz/*.c)
# Small programs the test scripts drive (encoders, probes): one main each.
TOOL_C     := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_C:tests/tools/%.c=$(B)/tools/%)

.PHONY: all test itest asan valgrind bench demo install uninstall clean \
        deps broker-start broker-stop help
.DEFAULT_GOAL := all

all: $(LIBFLOQ_A) $(LIBFLOQ_SO) $(WORKER_A) $(CONSOLE_A) $(PROGS) $(UNIT_BINS) \
     $(ITEST_BINS) $(BENCH_BINS) $(TOOL_BINS)

help:
	@sed -n '2,20p' Makefile | sed 's/^# \{0,1\}//'

# ---- compile
$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# schemas/history (the directory too: its time changes when a file is
# added or removed) holds the older versions every codec can read.
$(B)/gen/schemas_embed.c: schemas/embed.sh $(wildcard schemas/*.avsc) \
                          $(wildcard schemas/history schemas/history/*.avsc)
	@mkdir -p $(@D)
	sh schemas/embed.sh schemas > $@.tmp && mv $@.tmp $@

$(B)/gen/schemas_embed.o: $(B)/gen/schemas_embed.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SUPERVISE): $(B)/worker/backends/supervise_main.o \
              $(B)/worker/backends/supervise.o \
              $(B)/worker/backends/spawner.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(if $(SAN),,$(SUPERVISE_STATIC)) -o $@ $^

$(B)/gen/supervise_embed.o: $(SUPERVISE)
	@mkdir -p $(@D)
	printf '%s\n' '.section .rodata' '.balign 16' \
	    '.global floq_supervise_elf' '.global floq_supervise_elf_end' \
	    'floq_supervise_elf:' '.incbin "$(abspath $(SUPERVISE))"' \
	    'floq_supervise_elf_end:' \
	    '.section .note.GNU-stack,"",@progbits' > $(B)/gen/supervise_embed.S
	$(CC) -c $(B)/gen/supervise_embed.S -o $@

# ---- libraries
$(LIBFLOQ_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBFLOQ_SO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libfloq.so.0 $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
	ln -sf libfloq.so.0 $(B)/libfloq.so

$(WORKER_A): $(WRK_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(CONSOLE_A): $(CON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# floq.pc is written at install time: it holds PREFIX.

# ---- programs
define prog_rule
$(B)/bin/$(1): $(B)/$(PROG_$(1):.c=.o) $(CONSOLE_A) $(WORKER_A) $(LIBFLOQ_A)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$< $(CONSOLE_A) $(WORKER_A) $(LIBFLOQ_A) $$(LIBS)
endef
$(foreach p,floq floq-worker floq-lineage floq-mock-broker floq-console,\
  $(if $(wildcard $(PROG_$(p))),$(eval $(call prog_rule,$(p)))))

# ---- tests
$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(TEST_HELPER_OBJ) $(CONSOLE_A) $(WORKER_A) $(LIBFLOQ_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(CONSOLE_A) $(WORKER_A) $(LIBFLOQ_A) \
	    $(CHECK_LIBS) $(LIBS)

$(B)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(B)/itests/%: $(B)/tests/integration/%.o $(WORKER_A) $(LIBFLOQ_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(WORKER_A) $(LIBFLOQ_A) $(LIBS)

$(B)/tools/%: $(B)/tests/tools/%.o $(WORKER_A) $(LIBFLOQ_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(WORKER_A) $(LIBFLOQ_A) $(LIBS)

$(B)/bench/%: $(B)/tests/bench/%.o $(WORKER_A) $(LIBFLOQ_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(WORKER_A) $(LIBFLOQ_A) $(LIBS)

test: all
	@B=$(B) bash tests/unit/run.sh $(UNIT_BINS)

itest: all
	@B=$(B) bash tests/integration/run.sh

ASAN_OPT := -O1 -g -fno-omit-frame-pointer
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan:
	$(MAKE) B=build-asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" all
	B=build-asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" \
	    ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/unit/run.sh $(UNIT_BINS:$(B)/%=build-asan/%)

valgrind: all
	@B=$(B) VALGRIND=1 bash tests/unit/run.sh $(UNIT_BINS)

bench: all
	@B=$(B) sh tests/bench/run.sh $(BENCH_BINS)

demo: all
	@B=$(B) bash ops/demo.sh

deps:
	ops/install-deps.sh

broker-start:
	ops/kafka/kafka.sh start
broker-stop:
	ops/kafka/kafka.sh stop

# ---- install
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/floq $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/floq/schemas
	for p in $(PROGS); do install -m 755 $$p $(DESTDIR)$(PREFIX)/bin/; done
	install -m 644 $(LIBFLOQ_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBFLOQ_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libfloq.so.0 $(DESTDIR)$(PREFIX)/lib/libfloq.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    ops/floq.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/floq.pc
	install -m 644 producer/floq.h $(DESTDIR)$(PREFIX)/include/floq/
	install -m 644 common/floq_common.h $(DESTDIR)$(PREFIX)/include/floq/
	install -m 644 schemas/floq_schemas.h $(DESTDIR)$(PREFIX)/include/floq/
	install -m 644 lineage/floq_lineage.h $(DESTDIR)$(PREFIX)/include/floq/
	install -m 644 console/floq_console.h $(DESTDIR)$(PREFIX)/include/floq/
	install -m 644 schemas/*.avsc $(DESTDIR)$(PREFIX)/share/floq/schemas/
	install -d $(DESTDIR)$(PREFIX)/share/floq/schemas/history
	install -m 644 schemas/history/MANIFEST schemas/history/*.avsc \
	    $(DESTDIR)$(PREFIX)/share/floq/schemas/history/
	for m in $(wildcard docs/man/*.1); do \
	    install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done

uninstall:
	rm -f $(foreach p,$(PROGS),$(DESTDIR)$(PREFIX)/bin/$(notdir $(p)))
	rm -f $(DESTDIR)$(PREFIX)/lib/libfloq.* \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/floq.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/floq $(DESTDIR)$(PREFIX)/share/floq

clean:
	rm -rf build build-asan

include tests/fuzz/fuzz.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)
