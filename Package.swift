// swift-tools-version:6.0
//
// Probity: an eBPF behavioural monitor. The targets follow an event's journey:
// CProbityBPF (libbpf) -> ProbityProbes -> ProbityPipeline -> ProbityProcess
// -> ProbityAttribution -> ProbityContracts -> ProbitySinks, wired together by ProbityMonitor.
import PackageDescription

let package = Package(
    name: "Probity",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "probity", targets: ["probity"]),
        .executable(name: "probityd", targets: ["probityd"]),
        .library(name: "ProbityMonitor", targets: ["ProbityMonitor"]),
        .library(name: "ProbityAttribution", targets: ["ProbityAttribution"]),
        .library(name: "ProbityContracts", targets: ["ProbityContracts"]),
        .library(name: "ProbitySinks", targets: ["ProbitySinks"]),
        .library(name: "ProbityEvents", targets: ["ProbityEvents"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        // libbpf itself, found with pkg-config.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        // Thin C over libbpf: the shared event layouts, the embedded BPF object, libbpf's log hook.
        .target(
            name: "CProbityBPF",
            dependencies: ["CLibBPF"],
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // Event value types and their decoding from the kernel's records.
        .target(name: "ProbityEvents", dependencies: ["CProbityBPF"]),
        // Lock-free rings, batching and user-space loss counters.
        .target(name: "ProbityPipeline", dependencies: []),
        // Loading and attaching the BPF programs, the ring-buffer reader thread, kernel drop counters.
        .target(name: "ProbityProbes", dependencies: ["CProbityBPF", "ProbityEvents", "ProbityPipeline"]),
        // The process table: lineage, exe, argv, cwd; seeded from /proc.
        .target(name: "ProbityProcess", dependencies: ["ProbityEvents"]),
        // Package databases (dpkg, pip, npm), SBOM readers, the path → package index.
        .target(name: "ProbityAttribution", dependencies: ["ProbityEvents", "ProbityProcess", "Yams"]),
        // The contract language: loading and checking policies, compiled matchers, the evaluator.
        // policies/default.yaml is compiled in (Resources/default.yaml links to it).
        .target(
            name: "ProbityContracts", dependencies: ["ProbityEvents", "ProbityProcess", "ProbityAttribution", "Yams"],
            resources: [.embedInCode("Resources/default.yaml")]
        ),
        // Writers: JSON lines, reports (violations JSON, SARIF, JUnit, Markdown summary).
        .target(
            name: "ProbitySinks",
            dependencies: [
                "ProbityEvents", "ProbityProcess", "ProbityAttribution", "ProbityContracts", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Wires probes -> pipeline -> process table -> sinks for `probity trace`.
        .target(
            name: "ProbityMonitor",
            dependencies: [
                "ProbityProbes", "ProbityPipeline", "ProbityProcess", "ProbitySinks", "ProbityEvents", "ProbityAttribution",
                "ProbityContracts",
            ]
        ),
        // probityd: the service (control socket, violation store, systemd integration).
        .target(
            name: "ProbityDaemon",
            dependencies: [
                "ProbityMonitor", "ProbityContracts", "ProbitySinks", "ProbityProbes", "ProbityEvents", "ProbityAttribution",
                "CProbityBPF", "Yams", .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "probityd",
            dependencies: ["ProbityDaemon", "ProbityEvents", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "probity",
            dependencies: [
                "ProbityMonitor", "ProbityAttribution", "ProbityDaemon", "ProbityEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // What several test targets share (a raw control-socket client); not shipped.
        .target(name: "ProbityTestSupport", path: "Tests/ProbityTestSupport"),
        .testTarget(name: "ProbityEventsTests", dependencies: ["ProbityEvents", "CProbityBPF"]),
        .testTarget(name: "ProbityPipelineTests", dependencies: ["ProbityPipeline"]),
        .testTarget(name: "ProbityProbesTests", dependencies: ["ProbityProbes", "ProbityEvents"]),
        .testTarget(name: "ProbityProcessTests", dependencies: ["ProbityProcess", "ProbityEvents"]),
        .testTarget(name: "ProbityAttributionTests", dependencies: ["ProbityAttribution", "ProbityEvents", "ProbityProcess"]),
        .testTarget(
            name: "ProbityContractsTests", dependencies: ["ProbityContracts", "ProbityEvents", "ProbityProcess", "ProbityAttribution"]
        ),
        .testTarget(name: "ProbitySinksTests", dependencies: ["ProbitySinks", "ProbityEvents", "ProbityProcess", "ProbityContracts"]),
        .testTarget(
            name: "ProbityDaemonTests",
            dependencies: ["ProbityDaemon", "ProbityTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Real probes on the real kernel, as root. Never skipped when CI=true.
        .testTarget(
            name: "KernelTests",
            dependencies: [
                "ProbityMonitor", "ProbityProbes", "ProbityEvents", "ProbityProcess", "ProbityAttribution", "ProbityContracts",
                "ProbityDaemon", "CProbityBPF", "ProbityTestSupport",
            ]
        ),
    ]
)
