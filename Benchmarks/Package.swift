// swift-tools-version:6.0
// Benchmarks live in their own package (as swift-nio's do), so the main package's build and tests
// never pay for them. `make bench` builds and runs them in release mode.
import PackageDescription

let package = Package(
    name: "ProbityBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Probity", path: "..")],
    targets: [
        .executableTarget(
            name: "index-bench",
            dependencies: [.product(name: "ProbityAttribution", package: "Probity")],
            path: "Sources/index-bench"
        ),
        .executableTarget(
            name: "contracts-bench",
            dependencies: [
                .product(name: "ProbityContracts", package: "Probity"),
                .product(name: "ProbityEvents", package: "Probity"),
                .product(name: "ProbityAttribution", package: "Probity"),
            ],
            path: "Sources/contracts-bench"
        ),
        .executableTarget(
            name: "pipeline-bench",
            dependencies: [
                .product(name: "ProbityMonitor", package: "Probity"),
                .product(name: "ProbityEvents", package: "Probity"),
                .product(name: "ProbitySinks", package: "Probity"),
            ],
            path: "Sources/pipeline-bench"
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: [
                .product(name: "ProbityContracts", package: "Probity"),
                .product(name: "ProbitySinks", package: "Probity"),
            ],
            path: "Sources/store-bench"
        ),
    ]
)
