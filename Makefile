# soulgw -- plain GNU make.
#
#   make            build build/soulgw, build/libsoulgw.so.*, build/libsoulgw.a, build/soulgw.pc
#   make run        install missing packages, build, serve conf/gateway.toml on 127.0.0.1:8080
#   make check      install missing packages, build with sanitizers, run every test (T=filter)
#   make perf       the perf_* load scenarios against a release build
#   make bench      BENCHMARKS.md's tables on this machine, as markdown (minutes; bench/run --help;
#                   BENCH_ARGS="-s 5 -r 3 --only scaling,graph" passes options)
#   make fuzz       build the libFuzzer targets (clang); fuzz-run fuzzes, fuzz-smoke runs the seeds
#   make install    PREFIX=/usr/local DESTDIR=
#   make uninstall
#
# User CFLAGS and LDFLAGS are appended last.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
EXAMPLEDIR  ?= $(PREFIX)/share/doc/soulgw/examples

VERSION := $(shell sed -n 's/^\#define SOULGW_VERSION "\(.*\)"/\1/p' include/soulgw.h)
ABI     := $(shell sed -n 's/^\#define SOULGW_ABI \([0-9]*\)/\1/p' include/soulgw.h)
SONAME  := libsoulgw.so.$(ABI)
REALNAME := libsoulgw.so.$(VERSION)

CC      ?= cc
B       ?= build
OPT     ?= -O2 -g
WERROR  ?=
SAN     ?=

# libcurl's headers are needed to build; the library itself is loaded by lib/clients/upstream.c on the
# first outbound call (dlopen), so it is not linked.  The same for libpq, loaded by lib/store/pg.c
# when a PostgreSQL store is opened, and hiredis, loaded by lib/clients/redis.c when [cluster]
# Redis is configured (DL_PKGS: headers only).  The postgresql and redis-server packages are the
# servers the tests start (test/helpers/pgserver.c, redisserver.c); libpq5 and libhiredis0.14
# come with them and with the -dev packages.
PKGS := libmicrohttpd libcjson libsodium inih sqlite3
DL_PKGS := libcurl libpq hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DL_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lmicrohttpd -lcjson -lsodium -linih -lsqlite3)

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Wwrite-strings -fno-common
ALL_CFLAGS  = $(WARN) $(WERROR) $(OPT) $(SAN) -D_GNU_SOURCE -fPIC -fvisibility=hidden \
              -Iinclude -Ilib -I$(B) $(EXTRA_INC) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm
# test helpers (pgserver.c, redisserver.c) and test/perf/pg_appends.c call libpq and hiredis
TEST_LIBS   = $(LIBS) -lcurl $(shell pkg-config --libs libpq hiredis 2>/dev/null || echo -lpq -lhiredis)

LIB_SRC := $(sort $(wildcard lib/*.c lib/*/*.c lib/*/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC := $(sort $(wildcard cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)

COMMIT   := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
BUILT_AT := $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)

.PHONY: all run check check-build check-run deps node-deps perf pg-perf bench fuzz fuzz-run fuzz-smoke install uninstall clean lint-man FORCE
FORCE:
.DEFAULT_GOAL := all

all: $(B)/soulgw $(B)/$(REALNAME) $(B)/libsoulgw.a $(B)/soulgw.pc

# build/commit.h changes only when the commit does, so only version.o is rebuilt.
$(shell mkdir -p $(B) && printf '#define SOULGW_COMMIT "%s"\n#define SOULGW_BUILT_AT "%s"\n' \
  '$(COMMIT)' '$(BUILT_AT)' > $(B)/commit.h.new && \
  (cmp -s $(B)/commit.h.new $(B)/commit.h || mv $(B)/commit.h.new $(B)/commit.h); rm -f $(B)/commit.h.new)

# V=1 shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/test/%.o: EXTRA_INC := -Itest/helpers

$(B)/obj/lib/base/version.o: $(B)/commit.h

# The console's files (lib/routes/ui/www/) and Debian's Chart.js are embedded in the binary
# by lib/routes/ui/assets.c (.incbin of build/ui-embed/); a changed file rebuilds that object.
UI_WWW := $(sort $(wildcard lib/routes/ui/www/*))
CHARTJS := /usr/share/javascript/chart.js/chart.min.js
build/ui-embed/chart.min.js: $(wildcard $(CHARTJS))
	@mkdir -p $(dir $@)
	@if [ ! -f $(CHARTJS) ]; then echo "missing $(CHARTJS); run make deps (libjs-chart.js)"; exit 1; fi
	$(Q)cp $(CHARTJS) $@
$(B)/obj/lib/routes/ui/assets.o build/fuzz/obj/lib/routes/ui/assets.o: $(UI_WWW) build/ui-embed/chart.min.js

# The archive is rebuilt when the list of sources changes too (a deleted file's object must go).
$(B)/objects.list: FORCE
	@mkdir -p $(B)
	@echo '$(LIB_OBJ)' | cmp -s - $@ || echo '$(LIB_OBJ)' > $@

$(B)/libsoulgw.a: $(LIB_OBJ) $(B)/objects.list
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJ)

$(B)/$(REALNAME): $(LIB_OBJ) $(B)/objects.list
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(ALL_LDFLAGS) -o $@ $(LIB_OBJ) $(LIBS)
	$(Q)ln -sf $(REALNAME) $(B)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(B)/libsoulgw.so

# The command links the static library: one self-contained binary over Debian's shared libs.
$(B)/soulgw: $(CLI_OBJ) $(B)/libsoulgw.a
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libsoulgw.a $(LIBS)

# The .pc names the install directories, so install writes it afresh for its PREFIX.
write_pc = printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: soulgw' 'Description: gateway library for AI-agent backends' 'Version: $(VERSION)' \
	  'Requires.private: $(PKGS)' 'Libs: -L$${libdir} -lsoulgw' \
	  'Libs.private: -lpthread -lm' 'Cflags: -I$${includedir}' > $(1)

$(B)/soulgw.pc: Makefile include/soulgw.h
	@mkdir -p $(B)
	$(Q)$(call write_pc,$@)

.SECONDARY:

# ---------------------------------------------------------------------------------------------
# Set-up: what a fresh Debian 12 with only gcc and make lacks.

APT_PKGS := pkg-config libmicrohttpd-dev libcjson-dev libsodium-dev libinih-dev libsqlite3-dev \
            libcurl4-openssl-dev mandoc curl perl sqlite3 python3 libpq-dev postgresql \
            libhiredis-dev redis-server libjs-chart.js chromium
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  (apt-get install -y -q $$missing >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing)) || exit 1; \
	else \
	  echo "missing packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	fi

# The node tests drive the gateway with the official client libraries (test/node/package.json,
# pinned, with its lock): installed once into build/npm, again when the lock changes.  node and
# npm come from Debian's packages when the machine has neither.
NPM_DIR := build/npm
node-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing node/npm; run: sudo apt-get install -y nodejs npm"; exit 1; fi; \
	  echo "installing: nodejs npm"; \
	  (apt-get install -y -q nodejs npm >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm)) || exit 1; \
	fi
	@if ! cmp -s test/node/package-lock.json $(NPM_DIR)/package-lock.json || \
	    [ ! -d $(NPM_DIR)/node_modules ]; then \
	  echo "  NPM   test/node/package.json -> $(NPM_DIR)"; \
	  rm -rf $(NPM_DIR) && mkdir -p $(NPM_DIR) && \
	  cp test/node/package.json test/node/package-lock.json $(NPM_DIR)/ && \
	  (cd $(NPM_DIR) && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1) || \
	  { cat $(NPM_DIR)/npm.log; rm -rf $(NPM_DIR); exit 1; }; \
	fi

DEV_TOKEN ?= dev-token
DEV_HMAC  ?= dev-hmac
run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p var
	@echo "development secrets (not for production):"
	@echo "  GATEWAY_TOKEN_LOCAL=$${GATEWAY_TOKEN_LOCAL:-$(DEV_TOKEN)}"
	@echo "  GATEWAY_HMAC_LOCAL=$${GATEWAY_HMAC_LOCAL:-$(DEV_HMAC)}"
	@echo "serving conf/gateway.toml on http://127.0.0.1:8080 (Ctrl-C drains and stops)"
	@echo "console: http://127.0.0.1:8080/ui/ (paste the GATEWAY_TOKEN_LOCAL above)"
	@GATEWAY_TOKEN_LOCAL=$${GATEWAY_TOKEN_LOCAL:-$(DEV_TOKEN)} \
	 GATEWAY_HMAC_LOCAL=$${GATEWAY_HMAC_LOCAL:-$(DEV_HMAC)} \
	 exec $(B)/soulgw --config conf/gateway.toml

# ---------------------------------------------------------------------------------------------
# Tests: unit tests per module (TAP), black-box tests against the real binaries, the examples
# (C and Python), the man pages, the fuzz targets over their seeds (when clang is installed).
# Everything is built with ASan and UBSan into build/asan.

CHECK_B  := build/asan
CHECK_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
T ?=

check: deps node-deps
	@$(MAKE) --no-print-directory check-build B=$(CHECK_B) OPT="-O1 -g -DSOULGW_TEST_HOOKS" SAN="$(CHECK_SAN)" WERROR=-Werror
	@$(MAKE) --no-print-directory examples
	@if command -v clang >/dev/null; then $(MAKE) --no-print-directory -s fuzz; \
	 else echo "  (no clang: the fuzz targets are neither built nor run)"; fi
	@SOULGW_TEST_FILTER='$(T)' B=$(CHECK_B) test/run

TEST_HELPERS := $(sort $(wildcard test/helpers/*.c))
TEST_HELPER_OBJ := $(filter-out $(B)/obj/test/helpers/testhost.o,$(TEST_HELPERS:%.c=$(B)/obj/%.o))
UNIT_SRC := $(sort $(wildcard test/unit/*/*.c))
BB_SRC   := $(sort $(wildcard test/contract/*.c test/integration/*.c))
# unit tests mirror lib/: test/unit/store/store.c -> build/asan/t/unit_store_store
UNIT_BIN := $(foreach s,$(UNIT_SRC),$(B)/t/$(subst /,_,$(patsubst test/%.c,%,$(s))))
# black-box test programs: test/contract/x.c -> build/asan/t/contract_x
BB_BIN   := $(foreach s,$(BB_SRC),$(B)/t/$(subst /,_,$(patsubst test/%.c,%,$(s))))

check-build: all $(UNIT_BIN) $(BB_BIN) $(B)/testhost

define unit_rule
$(B)/t/$(subst /,_,$(patsubst test/%.c,%,$(1))): $(B)/obj/$(1:.c=.o) $(TEST_HELPER_OBJ) $(B)/libsoulgw.a
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD    $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$< $$(TEST_HELPER_OBJ) $$(B)/libsoulgw.a $$(TEST_LIBS)
endef
$(foreach s,$(UNIT_SRC),$(eval $(call unit_rule,$(s))))

$(B)/testhost: $(B)/obj/test/helpers/testhost.o $(B)/libsoulgw.a
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(B)/libsoulgw.a $(LIBS)

define bb_rule
$(B)/t/$(subst /,_,$(patsubst test/%.c,%,$(1))): $(B)/obj/$(1:.c=.o) $(TEST_HELPER_OBJ)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD    $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$< $$(TEST_HELPER_OBJ) $$(TEST_LIBS)
endef
$(foreach s,$(BB_SRC),$(eval $(call bb_rule,$(s))))

# The example is built the way a host program would build it: against an installed copy,
# through pkg-config.  examples/embed.py needs no build: test/scripts/example_embed_py.t runs
# it with python3 on the same staged copy.
STAGE := $(abspath build/stage)
.PHONY: examples
examples: all
	@rm -rf $(STAGE)
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr >/dev/null
	@echo "  CC    examples/embed.c (pkg-config soulgw, installed in $(STAGE))"
	$(Q)PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) \
	  $(CC) -std=c11 -Wall -Wextra -Werror -o build/embed examples/embed.c \
	  $$(PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) pkg-config --cflags --libs soulgw)

# The runbook's perf_* scenarios on the release build; numbers on stderr, never a timed assert.
perf: all $(B)/t/perf_run
	@echo "perf scenarios (release build, one gateway each; T=perf_tools etc. to pick):"
	@SOULGW_BIN=$(abspath $(B)/soulgw) SOULGW_TEST_FILTER='$(T)' $(B)/t/perf_run >$(B)/perf.tap || \
	  { cat $(B)/perf.tap; exit 1; }

$(B)/t/perf_run: $(B)/obj/test/perf/perf.o $(TEST_HELPER_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(TEST_LIBS)

# make bench: every table of BENCHMARKS.md reproduced on this machine (bench/run, python3 and wrk;
# it runs ../shared/bench's compare and compare-llm where they exist, perf_run and pg_appends).
# Not part of make check: it takes minutes and its figures are measurements, not assertions.
bench: all $(B)/t/perf_run $(B)/t/pg_appends $(B)/t/proxy_floor
	@B=$(B) bench/run $(BENCH_ARGS)

# The cheapest proxy of soulgw's design, and of one loop per thread (bench/proxy_floor.c).
$(B)/t/proxy_floor: $(B)/obj/bench/proxy_floor.o $(B)/libsoulgw.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(B)/libsoulgw.a $(LIBS)

# make pg-perf: durable appends on a real PostgreSQL, the store against the naive floor
# (test/perf/pg_appends.c; CONNS=4 THREADS=64 SECONDS=5), on a release build.
pg-perf: $(B)/t/pg_appends
	@$(B)/t/pg_appends

$(B)/t/pg_appends: $(B)/obj/test/perf/pg_appends.o $(TEST_HELPER_OBJ) $(B)/libsoulgw.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(B)/libsoulgw.a $(TEST_LIBS)

# make fuzz builds the targets; make fuzz-run runs each for FUZZ_SECONDS over its seeds
# (test/fuzz/seeds/NAME) and a working corpus kept in build/fuzz/corpus-NAME.  A target's
# output goes to build/fuzz/NAME.log and the input that broke it to build/fuzz/NAME-crash-*
# (or -leak-, -timeout-, -oom-).  A target that fails fails the run, once every target ran.
# (The target's status is the one tested: through a pipe, /bin/sh would test the last
# command's, so a crash would pass.)
FUZZ_TARGETS := $(patsubst test/fuzz/%.c,build/fuzz/%,$(wildcard test/fuzz/*.c))
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_TARGETS)
fuzz-run: fuzz
	@failed=""; for t in $(FUZZ_TARGETS); do n=$$(basename $$t); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzzing $$n for $(FUZZ_SECONDS) s"; \
	  if $$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/$$n- \
	       build/fuzz/corpus-$$n test/fuzz/seeds/$$n >build/fuzz/$$n.log 2>&1; then \
	    tail -1 build/fuzz/$$n.log; \
	  else \
	    st=$$?; sed -n '/ERROR\|runtime error/,/^SUMMARY/p' build/fuzz/$$n.log | head -40; \
	    tail -3 build/fuzz/$$n.log; failed="$$failed $$n"; \
	    echo "fuzz: $$n failed with status $$st; its output: build/fuzz/$$n.log"; \
	  fi; done; \
	if [ -n "$$failed" ]; then echo "fuzz-run: failed:$$failed"; exit 1; fi
# make fuzz-smoke runs each target once over its seeds, without fuzzing (test/scripts/
# fuzz_smoke.t, which make check runs too when clang is installed).
fuzz-smoke: fuzz
	@out=$$(test/scripts/fuzz_smoke.t); echo "$$out"; case "$$out" in *"not ok"*) exit 1 ;; esac

# The library is compiled once for every target (coverage-instrumented, ASan, UBSan that
# aborts on the first report, as in make check) and each target links it.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
$(FUZZ_OBJ): build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CLANG $<")
	$(Q)clang -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -Ilib -Ibuild \
	  $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
$(FUZZ_TARGETS): build/fuzz/%: test/fuzz/%.c $(FUZZ_OBJ)
	@$(if $(Q),echo "  CLANG $@")
	$(Q)clang -g -O1 -fsanitize=fuzzer $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -Ilib -Ibuild \
	  -o $@ $< $(FUZZ_OBJ) $(LIBS)

# ---------------------------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(EXAMPLEDIR)
	install -m 755 $(B)/soulgw $(DESTDIR)$(BINDIR)/soulgw
	install -m 755 $(B)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsoulgw.so
	install -m 644 $(B)/libsoulgw.a $(DESTDIR)$(LIBDIR)/libsoulgw.a
	install -m 644 include/soulgw.h $(DESTDIR)$(INCLUDEDIR)/soulgw.h
	$(call write_pc,$(DESTDIR)$(PKGCONFIGDIR)/soulgw.pc)
	install -m 644 man/soulgw.1 $(DESTDIR)$(MANDIR)/man1/soulgw.1
	install -m 644 man/libsoulgw.3 $(DESTDIR)$(MANDIR)/man3/libsoulgw.3
	install -m 644 man/soulgw.toml.5 $(DESTDIR)$(MANDIR)/man5/soulgw.toml.5
	install -m 644 conf/gateway.toml conf/manifests.json $(DESTDIR)$(EXAMPLEDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/soulgw $(DESTDIR)$(LIBDIR)/$(REALNAME) \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libsoulgw.so \
	  $(DESTDIR)$(LIBDIR)/libsoulgw.a $(DESTDIR)$(INCLUDEDIR)/soulgw.h \
	  $(DESTDIR)$(PKGCONFIGDIR)/soulgw.pc $(DESTDIR)$(MANDIR)/man1/soulgw.1 \
	  $(DESTDIR)$(MANDIR)/man3/libsoulgw.3 $(DESTDIR)$(MANDIR)/man5/soulgw.toml.5 \
	  $(DESTDIR)$(EXAMPLEDIR)/gateway.toml $(DESTDIR)$(EXAMPLEDIR)/manifests.json
	-rmdir $(DESTDIR)$(EXAMPLEDIR) 2>/dev/null

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
