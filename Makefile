# Probity: build, test and benchmark. `make help` lists the targets.
#
# The BPF programs in bpf/ are compiled with clang into one linked object, which is embedded
# into the binaries through a bpftool skeleton header (Sources/CProbityBPF/generated/). The
# kernel types come from bpf/vmlinux.h, generated from this machine's /sys/kernel/btf/vmlinux
# (not committed: CO-RE relocations make the object portable across kernels).

SHELL := /bin/bash
# The Swift toolchain's clang (21) compiles the BPF programs; Debian's clang works too.
CLANG ?= $(shell d=$$(dirname $$(readlink -f $$(command -v swift 2>/dev/null) 2>/dev/null) 2>/dev/null); [ -x "$$d/clang" ] && echo $$d/clang || echo clang)
BPFTOOL ?= bpftool
SWIFT ?= swift
CONFIG ?= release
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:.bpf.c=.o)
BPF_HDRS := bpf/common.bpf.h bpf/enforce.bpf.h Sources/CProbityBPF/include/probity.h
SKEL := Sources/CProbityBPF/generated/probity.skel.h
DEB_PACKAGES := libbpf-dev libelf-dev zlib1g-dev libsystemd-dev libsqlite3-dev libxml2-dev \
	bpftool libbpf-tools socat dnsmasq iproute2 procps liburing-dev gcc \
	openssh-server rsyslog systemd

.PHONY: all help deps mounts bpf build run demo test bench install man clean

all: build

help:
	@echo "make deps    install Debian packages and mount tracefs/bpffs"
	@echo "make         build the BPF object and the Swift binaries ($(CONFIG))"
	@echo "make run     build, then trace the whole host: probity trace --json"
	@echo "make demo    probity run over misbehaving and well-behaved fixture packages, offline"
	@echo "make test    set up, build and run the whole test suite (real kernel, as root)"
	@echo "make install probity, probityd (static Swift runtime), their manual pages and shell completions, the systemd unit and /etc/probity/config.yaml"
	@echo "make man     regenerate docs/man/probity.1 and probityd.1 from the argument parser (after changing any help text)"
	@echo "make bench   slowdown of fixed workloads: none vs probity trace vs opensnoop+execsnoop"

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@$(MAKE) --no-print-directory mounts

mounts:
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
	@mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

bpf/vmlinux.h:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

bpf/%.o: bpf/%.bpf.c $(BPF_HDRS) bpf/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Wno-unused-function -Wno-unknown-warning-option -Wno-default-const-init-var-unsafe \
		-Ibpf -ISources/CProbityBPF/include -c $< -o $@

bpf/probity.bpf.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(SKEL): bpf/probity.bpf.o
	@mkdir -p $(dir $@)
	$(BPFTOOL) gen skeleton $< name probity_bpf > $@.tmp && mv $@.tmp $@

bpf: $(SKEL)

build: bpf
	$(SWIFT) build -c $(CONFIG)

run: deps build
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/probity trace --json

# Installs evil and good fixture packages (npm tarballs, a Python sdist) offline under
# `probity run`, with a test host in a network namespace, and prints the report.
demo: deps build
	./Tests/Fixtures/demo/demo.sh $$($(SWIFT) build -c $(CONFIG) --show-bin-path)/probity

# XCTest's own closing line is followed by swift-testing's ("0 tests"), so the totals are
# repeated last as one plain line: "N passed, N failed".
test: deps bpf
	$(SWIFT) build --build-tests
	@set -o pipefail; $(SWIFT) test --skip-build --no-parallel 2>&1 | tee .build/test.log; rc=$$?; \
	totals=$$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" .build/test.log | tail -1 | \
		sed -E 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/'); \
	if [ -n "$$totals" ]; then set -- $$totals; echo "tests: $$(( $$1 - $$2 )) passed, $$2 failed"; fi; exit $$rc

bench: deps build
	./Benchmarks/run.sh

# The service: binaries with the Swift runtime linked in, the unit, the default configuration
# (kept if one exists), and the `probity` group whose members may use the control socket.
PREFIX ?= /usr/local
install: deps bpf
	$(SWIFT) build -c release --static-swift-stdlib --product probity
	$(SWIFT) build -c release --static-swift-stdlib --product probityd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/probity $(DESTDIR)/etc/systemd/system
	install -m 0755 $$($(SWIFT) build -c release --show-bin-path)/probity $$($(SWIFT) build -c release --show-bin-path)/probityd $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 docs/man/probity.1 docs/man/probityd.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	bin=$$($(SWIFT) build -c release --show-bin-path); for tool in probity probityd; do \
		$$bin/$$tool --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$tool && \
		$$bin/$$tool --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$tool && \
		$$bin/$$tool --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$tool.fish || exit 1; done
	sed 's|/usr/local/bin/probityd|$(PREFIX)/bin/probityd|' systemd/probity.service > $(DESTDIR)/etc/systemd/system/probity.service
	[ -e $(DESTDIR)/etc/probity/config.yaml ] || install -m 0644 systemd/config.yaml $(DESTDIR)/etc/probity/config.yaml
	if [ -z "$(DESTDIR)" ]; then getent group probity >/dev/null || groupadd --system probity; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; fi

# The manual pages, generated from the argument parser by swift-argument-parser's
# generate-manual plugin (it builds the package, in debug here, and runs each binary's
# --experimental-dump-help); dated by the last commit so that they change only with the help.
man: bpf
	$(SWIFT) package generate-manual --configuration debug --date $$(git log -1 --format=%cs 2>/dev/null || date +%F)
	install -d docs/man
	install -m 0644 .build/plugins/GenerateManual/outputs/probity/probity.1 .build/plugins/GenerateManual/outputs/probityd/probityd.1 docs/man/

clean:
	rm -f bpf/*.o bpf/vmlinux.h $(SKEL)
	$(SWIFT) package clean
