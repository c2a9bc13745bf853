# smmud: the one Makefile.
#
#   make             build smmud, smmuctl and the man pages (host)
#   make check       every test; ends with "N passed, N failed"
#   make demo        the mass VM shutdown scenario on the emulated SMMUv3
#   make bench       every scenario configuration, with figures
#   make kernel      the patched arm64 test kernel (cached outside the tree)
#   make guest-test  boot the test kernel under QEMU and run the guest suite
#   make host-test   boot the deployed host image (systemd, smmud's .deb) and test it there
#   make install / uninstall (PREFIX, DESTDIR), make clean
#
# Objects go to $(BUILD)/<variant>/: host (the installed build), san
# (AddressSanitizer + UndefinedBehaviorSanitizer, what the tests run) and
# arm64 (cross-built for the QEMU guest).  Each variant is this same
# Makefile run again with VARIANT set: no other build system.

VERSION := 0.1.0

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DBUSPOLICYDIR ?= $(DATADIR)/dbus-1/system.d
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
GENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
DESTDIR ?=

BUILD ?= build
# One spelling of the build directory, whoever calls (tests/guest/run-guest-tests
# passes an absolute one): a dependency file names its object as the compiler
# was told, and an object spelled otherwise finds no header among its
# prerequisites, so after a header change it would be linked stale.
override BUILD := $(abspath $(BUILD))
SMMUD_CACHE ?= /var/cache/smmud-build
export SMMUD_CACHE

VARIANT ?= host
O := $(BUILD)/$(VARIANT)

ifeq ($(VARIANT),arm64)
CC := aarch64-linux-gnu-gcc
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
else
CC ?= cc
PKG_CONFIG ?= pkg-config
endif

PKGS := libsystemd libnl-3.0 libnl-genl-3.0 inih
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# daemon/ holds the daemon's wiring (smmud.c, manager.c); the layers below it
# are folders of their own, each on the include path (includes name a
# header alone, as in systemd's tree).
DAEMON_DIRS := daemon daemon/shared daemon/observe daemon/decide daemon/act daemon/tell daemon/ctl

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE \
	-DSMMUD_VERSION='"$(VERSION)"' -DSYSCONFDIR='"$(SYSCONFDIR)"' \
	$(addprefix -I,$(DAEMON_DIRS)) $(PKG_CFLAGS)
ifeq ($(VARIANT),san)
VARIANT_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
VARIANT_LDFLAGS := -fsanitize=address,undefined
else
VARIANT_CFLAGS := -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
VARIANT_LDFLAGS := -Wl,-z,relro,-z,now
endif
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS := $(BASE_CFLAGS) $(VARIANT_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS := $(VARIANT_LDFLAGS) $(LDFLAGS)

# daemon/smmud.c is smmud's main, daemon/ctl/smmuctl*.c are smmuctl's;
# every other .c of DAEMON_DIRS is the core both link, and the unit tests too.
SMMUD_MAIN := daemon/smmud.c
SMMUCTL_SRCS := $(sort $(wildcard daemon/ctl/smmuctl*.c))
CORE_SRCS := $(filter-out $(SMMUD_MAIN) $(SMMUCTL_SRCS),\
	$(sort $(foreach d,$(DAEMON_DIRS),$(wildcard $(d)/*.c))))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_LIB_SRCS := $(sort $(wildcard tests/helpers/lib/*.c))
GUEST_SRCS := $(sort $(wildcard tests/guest/*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))
CORE_LIB := $(O)/libsmmud-core.a
HELPER_LIB := $(O)/libsmmud-helpers.a
SMMUD_BIN := $(O)/smmud
SMMUCTL_BIN := $(O)/smmuctl
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
HELPER_BINS := $(patsubst tests/helpers/%.c,$(O)/tests/helpers/%,$(HELPER_SRCS))
GUEST_BINS := $(patsubst tests/guest/%.c,$(O)/tests/guest/%,$(GUEST_SRCS))

MAN_SRCS := $(sort $(wildcard man/*.scd))
MAN_PAGES := $(patsubst man/%.scd,$(BUILD)/man/%,$(MAN_SRCS))

.PHONY: all variant-all binaries existing-binaries unit-bins helper-bins guest-bins man \
	deps san arm64 check demo bench kernel kernel-base guest-test host-image host-test \
	install uninstall deb deb-arm64 clean

ifeq ($(VARIANT),host)
all: deps
	@$(MAKE) --no-print-directory variant-all
	@$(MAKE) --no-print-directory man
else
all: variant-all
endif

variant-all: binaries

binaries: $(SMMUD_BIN) $(SMMUCTL_BIN)
# The guest bench boots without smmud/smmuctl: build them once their
# main sources exist.
existing-binaries: $(if $(wildcard $(SMMUD_MAIN)),$(SMMUD_BIN)) $(if $(SMMUCTL_SRCS),$(SMMUCTL_BIN))
unit-bins: $(UNIT_BINS)
helper-bins: $(HELPER_BINS)
guest-bins: $(GUEST_BINS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(call obj,$(CORE_SRCS))
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(SMMUD_BIN): $(call obj,$(SMMUD_MAIN)) $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(SMMUCTL_BIN): $(call obj,$(SMMUCTL_SRCS)) $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs cmocka) -lm

# Code several helpers share is in tests/helpers/lib/: an archive, so each
# helper links only the objects it uses.
$(HELPER_LIB): $(call obj,$(HELPER_LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/tests/helpers/%: $(O)/tests/helpers/%.o $(HELPER_LIB) $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# Guest programs are static: the initramfs then needs no libc for them.
$(O)/tests/guest/%: tests/guest/%.c $(wildcard tests/guest/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O2 -static -o $@ $< -lpthread

# LD_PRELOAD fault injector of the reliability tests (tests/reliability/).
PRELOAD_SRCS := $(sort $(wildcard tests/reliability/*.c))
PRELOAD_LIBS := $(patsubst tests/reliability/%.c,$(O)/tests/reliability/%.so,$(PRELOAD_SRCS))
.PHONY: preload-bins
preload-bins: $(PRELOAD_LIBS)
$(O)/tests/reliability/%.so: tests/reliability/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -fPIC -shared -o $@ $< -ldl

man: $(MAN_PAGES)
$(BUILD)/man/%: man/%.scd
	@mkdir -p $(@D)
	scdoc <$< >$@

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# ---- set-up and the other variants -------------------------------------

# SMMUD_SKIP_DEPS=1: the caller has the build dependencies (make deb's
# package build, where Build-Depends says what they are).
deps:
	@[ -n "$${SMMUD_SKIP_DEPS:-}" ] || scripts/install-deps

san: deps
	@$(MAKE) --no-print-directory VARIANT=san binaries unit-bins helper-bins preload-bins

arm64: deps
	@$(MAKE) --no-print-directory VARIANT=arm64 existing-binaries guest-bins

# ---- the test bench ------------------------------------------------------

kernel: deps
	scripts/build-kernel patched

kernel-base: deps
	scripts/build-kernel base

guest-test: deps arm64
	tests/guest/run-guest-tests patched

# The deployed host image (Debian 12 arm64, systemd as PID 1) and its suite:
# smmud installed from its .deb, started by systemd.
host-image: deps
	scripts/build-host-image

host-test: deps
	tests/host/run-host-tests

check: deps
	@$(MAKE) --no-print-directory san
	@$(MAKE) --no-print-directory man
	@tests/run-checks

demo: deps
	@$(MAKE) --no-print-directory arm64
	tests/scenario/demo

bench: deps
	@$(MAKE) --no-print-directory arm64
	tests/scenario/bench

# ---- fuzzing (libFuzzer; tests/fuzz/) --------------------------------------
#
# VARIANT=fuzz: the core compiled again with clang, libFuzzer's coverage
# instrumentation, ASan and UBSan; each tests/fuzz/fuzz-<name>.c is linked
# with libFuzzer's main into $(BUILD)/fuzz/tests/fuzz/fuzz-<name>.
#   make fuzz        every target for FUZZ_SECONDS (default 300) each; new
#                    corpus entries go to $(BUILD)/fuzz/corpus/<name>/
#   make check       runs each for a short while (tests/fuzz/run, suite "fuzz")
FUZZ_SECONDS ?= 300
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/tests/fuzz/%,$(FUZZ_SRCS))
ifeq ($(VARIANT),fuzz)
CC := clang
VARIANT_CFLAGS := -O1 -gline-tables-only -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
VARIANT_LDFLAGS := -fsanitize=address,undefined
ALL_CFLAGS := $(BASE_CFLAGS) $(VARIANT_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS := $(VARIANT_LDFLAGS) $(LDFLAGS)
endif

.PHONY: fuzz fuzz-build fuzz-bins fuzz-seeds
fuzz-bins: $(FUZZ_BINS)

$(O)/tests/fuzz/%: $(O)/tests/fuzz/%.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

fuzz-build: deps
	@$(MAKE) --no-print-directory VARIANT=fuzz fuzz-bins

# make check builds the targets too (its suite list runs tests/fuzz/run).
check: fuzz-build

# ---- soak (tests/reliability/soak; the shipped host build) -----------------
#   make soak        SOAK_SECONDS (default 600) of VM churn, then valgrind
#   make check       runs it for 60 s (suite "soak")
SOAK_SECONDS ?= 600
.PHONY: soak soak-build
soak-build: deps
	@$(MAKE) --no-print-directory VARIANT=host binaries helper-bins
check: soak-build
soak: soak-build
	@$(MAKE) --no-print-directory san
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_VALGRIND_SECONDS=60 tests/reliability/soak

# The binary seeds (netlink messages) are generated; the result is committed.
fuzz-seeds: deps
	@$(MAKE) --no-print-directory VARIANT=fuzz $(BUILD)/fuzz/tests/fuzz/gen-seeds
	$(BUILD)/fuzz/tests/fuzz/gen-seeds tests/fuzz/corpus

$(O)/tests/fuzz/gen-seeds: tests/fuzz/gen-seeds.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -o $@ $< $(PKG_LIBS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run --long
# ---- end of fuzzing ----------------------------------------------------------

# ---- install ---------------------------------------------------------------

install: all
	install -Dm755 $(BUILD)/host/smmud $(DESTDIR)$(SBINDIR)/smmud
	install -Dm755 $(BUILD)/host/smmuctl $(DESTDIR)$(BINDIR)/smmuctl
	for p in $(MAN_PAGES); do \
		s=$${p##*.}; install -Dm644 $$p $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$p); \
	done
	if [ -f conf/smmud.conf ]; then \
		install -Dm644 conf/smmud.conf $(DESTDIR)$(SYSCONFDIR)/smmud/smmud.conf; \
		install -dm755 $(DESTDIR)$(SYSCONFDIR)/smmud/smmud.conf.d; fi
	if [ -f systemd/smmud.service ]; then \
		install -dm755 $(DESTDIR)$(UNITDIR); \
		sed -e 's|/usr/sbin/smmud|$(SBINDIR)/smmud|' -e 's|/usr/bin/smmuctl|$(BINDIR)/smmuctl|' \
			systemd/smmud.service >$(DESTDIR)$(UNITDIR)/smmud.service; \
		chmod 644 $(DESTDIR)$(UNITDIR)/smmud.service; \
		install -Dm755 systemd/smmud-sysfs-generator \
			$(DESTDIR)$(GENERATORDIR)/smmud-sysfs-generator; \
		install -Dm644 systemd/machine-.scope.d/smmud.conf \
			$(DESTDIR)$(UNITDIR)/machine-.scope.d/smmud.conf; fi
	if [ -f systemd/org.smmud1.conf ]; then \
		install -Dm644 systemd/org.smmud1.conf $(DESTDIR)$(DBUSPOLICYDIR)/org.smmud1.conf; fi
	if [ -f conf/smmuctl.bash-completion ]; then \
		install -Dm644 conf/smmuctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/smmuctl; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/smmud $(DESTDIR)$(BINDIR)/smmuctl
	rm -f $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
	rm -f $(DESTDIR)$(UNITDIR)/smmud.service $(DESTDIR)$(DBUSPOLICYDIR)/org.smmud1.conf
	rm -f $(DESTDIR)$(UNITDIR)/machine-.scope.d/smmud.conf
	-rmdir $(DESTDIR)$(UNITDIR)/machine-.scope.d 2>/dev/null
	rm -f $(DESTDIR)$(GENERATORDIR)/smmud-sysfs-generator
	rm -f $(DESTDIR)$(BASHCOMPDIR)/smmuctl
	@echo "$(DESTDIR)$(SYSCONFDIR)/smmud is left in place (local configuration)."

# ---- packaging -------------------------------------------------------------

# The Debian package, built from a copy of the sources in $(BUILD)/deb/ (so
# dpkg-buildpackage writes nothing outside build/): $(BUILD)/deb/*.deb.
deb:
	@scripts/build-deb $(BUILD)/deb

# The same package cross-built for arm64 hosts (what the deployed host
# image installs): $(BUILD)/deb-arm64/*.deb.
deb-arm64: deps
	@scripts/build-deb $(BUILD)/deb-arm64 -aarm64

clean:
	rm -rf $(BUILD)
