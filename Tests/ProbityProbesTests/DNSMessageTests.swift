import XCTest
@testable import ProbityProbes

/// Builds DNS messages byte by byte, laid out as a resolver receives them.
private struct Wire {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xFFFF)) }

    /// ID, flags, then QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    mutating func header(id: UInt16 = 0xBEEF, flags: UInt16 = 0x8180, counts: [UInt16]) {
        u16(id); u16(flags)
        for count in counts { u16(count) }
    }

    /// Labels, ending with the root label or, if `pointer` is given, a compression pointer.
    mutating func name(_ text: String, pointer: Int? = nil) {
        for label in text.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += label.utf8
        }
        if let pointer { bytes += [0xC0 | UInt8(pointer >> 8), UInt8(pointer & 0xFF)] } else { bytes.append(0) }
    }

    mutating func pointer(_ offset: Int) { name("", pointer: offset) }

    mutating func question(_ text: String, type: UInt16 = 1) { name(text); u16(type); u16(1) }

    /// Type, class IN, TTL, RDLENGTH and RDATA; the owner name is written by the caller.
    mutating func record(type: UInt16, ttl: UInt32, data: [UInt8]) {
        u16(type); u16(1); u32(ttl); u16(UInt16(data.count))
        bytes += data
    }
}

/// A small deterministic generator (SplitMix64) so that the fuzz runs are reproducible.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class DNSMessageTests: XCTestCase {
    /// allowed.test A? → 10.203.0.10, TTL 300, owner compressed to the question.
    private var aResponse: [UInt8] {
        var w = Wire()
        w.header(id: 0x1234, counts: [1, 1, 0, 0])
        w.question("allowed.test")
        w.pointer(12); w.record(type: 1, ttl: 300, data: [10, 203, 0, 10])
        return w.bytes
    }

    /// www.x.test CNAME y.cdn.test; y.cdn.test A 1.2.3.4 and A 1.2.3.5, as a recursive resolver
    /// sends it: every name after the question compressed.
    private var cnameResponse: [UInt8] {
        var w = Wire()
        w.header(counts: [1, 3, 0, 0])
        w.question("www.x.test")                    // www at 12, x at 16, test at 18
        w.pointer(12)
        let cnameData = w.bytes.count + 10          // where the CNAME's RDATA starts
        w.record(type: 5, ttl: 600, data: [1, UInt8(ascii: "y"), 3] + Array("cdn".utf8) + [0xC0, 18])
        w.pointer(cnameData); w.record(type: 1, ttl: 120, data: [1, 2, 3, 4])
        w.pointer(cnameData); w.record(type: 1, ttl: 900, data: [1, 2, 3, 5])
        return w.bytes
    }

    func testARecord() throws {
        let message = try DNSMessage(parsing: aResponse)
        XCTAssertEqual(message.id, 0x1234)
        XCTAssertTrue(message.isResponse)
        XCTAssertEqual(message.responseCode, 0)
        XCTAssertEqual(message.questions, [DNSQuestion(name: "allowed.test", type: 1, recordClass: 1)])
        XCTAssertEqual(message.answers, [DNSRecord(name: "allowed.test", ttl: 300, data: .address("10.203.0.10"))])
        XCTAssertEqual(message.answerSet, DNSAnswerSet(question: "allowed.test", answers: [DNSAnswer(address: "10.203.0.10", name: "allowed.test", ttl: 300)]))
    }

    func testAAAARecordIsWrittenAsSocketAddressWritesIt() throws {
        var w = Wire()
        w.header(counts: [1, 2, 0, 0])
        w.question("v6.test", type: 28)
        w.pointer(12); w.record(type: 28, ttl: 60, data: [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
        w.pointer(12); w.record(type: 28, ttl: 60, data: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])
        let addresses = try DNSMessage(parsing: w.bytes).answerSet.answers.map(\.address)
        XCTAssertEqual(addresses, ["2001:db8::1", "fd00::10"])
    }

    func testCNAMEChainMapsTheAddressToEveryName() throws {
        let message = try DNSMessage(parsing: cnameResponse)
        XCTAssertEqual(message.answers.first, DNSRecord(name: "www.x.test", ttl: 600, data: .canonicalName("y.cdn.test")))
        let answers = message.answerSet.answers
        XCTAssertEqual(Set(answers), [
            DNSAnswer(address: "1.2.3.4", name: "y.cdn.test", ttl: 120),
            DNSAnswer(address: "1.2.3.4", name: "www.x.test", ttl: 120),
            DNSAnswer(address: "1.2.3.5", name: "y.cdn.test", ttl: 900),
            DNSAnswer(address: "1.2.3.5", name: "www.x.test", ttl: 600),  // the smallest TTL on the chain
        ])
        XCTAssertEqual(message.answerSet.question, "www.x.test")
    }

    func testCNAMELoopEnds() throws {
        var w = Wire()
        w.header(counts: [1, 3, 0, 0])
        w.question("a.test")
        w.name("a.test"); w.record(type: 5, ttl: 60, data: [1, UInt8(ascii: "b"), 0xC0, 14])  // a.test → b.test
        w.name("b.test"); w.record(type: 5, ttl: 60, data: [0xC0, 12])                      // b.test → a.test
        w.name("b.test"); w.record(type: 1, ttl: 60, data: [9, 9, 9, 9])
        let names = Set(try DNSMessage(parsing: w.bytes).answerSet.answers.map(\.name))
        XCTAssertEqual(names, ["a.test", "b.test"])
    }

    func testOtherTypesAndClassesAreSkippedByLength() throws {
        var w = Wire()
        w.header(counts: [1, 4, 0, 1])
        w.question("mixed.test")
        w.pointer(12); w.record(type: 16, ttl: 60, data: [5] + Array("hello".utf8))      // TXT
        w.pointer(12); w.record(type: 1, ttl: 60, data: [192, 0, 2, 1])
        w.pointer(12); w.u16(1); w.u16(3); w.u32(60); w.u16(4); w.bytes += [7, 7, 7, 7]  // class CH
        w.pointer(12); w.record(type: 1, ttl: 60, data: [192, 0, 2, 2])
        w.bytes += [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]                                  // OPT, not read
        let addresses = try DNSMessage(parsing: w.bytes).answerSet.answers.map(\.address)
        XCTAssertEqual(addresses, ["192.0.2.1", "192.0.2.2"])
    }

    func testNamesAreLowerCaseWithOddBytesEscaped() throws {
        var w = Wire()
        w.header(counts: [1, 0, 0, 0])
        w.bytes += [5] + Array("A.b\\C".utf8) + [2, 0x20, 0xFF, 4] + Array("TEST".utf8) + [0]
        w.u16(1); w.u16(1)
        XCTAssertEqual(try DNSMessage(parsing: w.bytes).questions.first?.name, "a\\046b\\092c.\\032\\255.test")
    }

    func testQueryYieldsNoAnswers() throws {
        var bytes = aResponse
        bytes[2] &= 0x7F  // QR = 0
        let message = try DNSMessage(parsing: bytes)
        XCTAssertFalse(message.isResponse)
        XCTAssertEqual(message.answerSet.answers, [])
    }

    func testNXDOMAINYieldsNoAnswers() throws {
        var bytes = aResponse
        bytes[3] = 0x83  // RA, RCODE 3
        let message = try DNSMessage(parsing: bytes)
        XCTAssertEqual(message.responseCode, 3)
        XCTAssertEqual(message.answerSet.answers, [])
        XCTAssertEqual(message.answerSet.question, "allowed.test")
    }

    func testTruncationAtEveryOffsetThrows() {
        for message in [aResponse, cnameResponse] {
            for length in 0..<message.count {
                XCTAssertThrowsError(try DNSMessage(parsing: Array(message[..<length])), "cut at \(length)") { error in
                    guard let error = error as? DNSMessageError else { return XCTFail("\(error)") }
                    XCTAssertLessThanOrEqual(error.offset, length)
                }
            }
            XCTAssertNoThrow(try DNSMessage(parsing: message))
        }
    }

    private func assertThrows(_ bytes: [UInt8], _ problem: DNSMessageError.Problem, at offset: Int, line: UInt = #line) {
        XCTAssertThrowsError(try DNSMessage(parsing: bytes), line: line) { error in
            XCTAssertEqual(error as? DNSMessageError, DNSMessageError(problem, at: offset), line: line)
        }
    }

    func testPointerLoopsThrow() {
        var selfLoop = Wire()
        selfLoop.header(counts: [1, 0, 0, 0])
        selfLoop.pointer(12)
        assertThrows(selfLoop.bytes, .pointerLoop, at: 12)

        var twoNames = Wire()
        twoNames.header(counts: [1, 0, 0, 0])
        twoNames.name("a", pointer: 16)  // 12: "a" then → 16
        twoNames.name("b", pointer: 12)  // 16: "b" then → 12
        XCTAssertThrowsError(try DNSMessage(parsing: twoNames.bytes)) { error in
            XCTAssertEqual((error as? DNSMessageError)?.problem, .pointerLoop)
        }
    }

    func testBadLengthsThrow() {
        var labelPastEnd = Wire()
        labelPastEnd.header(counts: [1, 0, 0, 0])
        labelPastEnd.bytes += [63] + Array("short".utf8)
        assertThrows(labelPastEnd.bytes, .truncated, at: 12)

        var pointerPastEnd = Wire()
        pointerPastEnd.header(counts: [1, 0, 0, 0])
        pointerPastEnd.pointer(0x3FFF)
        assertThrows(pointerPastEnd.bytes, .pointerOutOfBounds, at: 12)

        var reservedLabel = Wire()
        reservedLabel.header(counts: [1, 0, 0, 0])
        reservedLabel.bytes += [0x41, 0]
        assertThrows(reservedLabel.bytes, .unsupportedLabelType, at: 12)

        var longName = Wire()
        longName.header(counts: [1, 0, 0, 0])
        for _ in 0..<5 { longName.bytes += [63] + [UInt8](repeating: UInt8(ascii: "a"), count: 63) }
        longName.bytes += [0, 0, 1, 0, 1]
        assertThrows(longName.bytes, .nameTooLong, at: 12 + 3 * 64)

        var fiveByteA = aResponse
        fiveByteA[fiveByteA.count - 5] = 5  // RDLENGTH 4 → 5, one more byte of data
        fiveByteA.append(0)
        assertThrows(fiveByteA, .badAddressLength, at: fiveByteA.count - 5)

        var dataPastEnd = aResponse
        dataPastEnd[dataPastEnd.count - 5] = 200
        assertThrows(dataPastEnd, .truncated, at: dataPastEnd.count - 4)

        var cnameTooLong = cnameResponse
        cnameTooLong[12 + 16 + 2 + 8 + 1] += 1  // the CNAME's RDLENGTH, one byte more than its name
        XCTAssertThrowsError(try DNSMessage(parsing: cnameTooLong))
    }

    func testRandomMutationsNeverCrash() {
        var random = SeededGenerator(state: 0x5EED_0D15)
        let seeds = [aResponse, cnameResponse]
        var parsed = 0, rejected = 0
        for round in 0..<5000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                case 2: bytes[index] = [0x00, 0x3F, 0xC0, 0xFF][Int.random(in: 0..<4, using: &random)]
                case 3: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                default: if bytes.count > 1 { bytes.remove(at: index) }
                }
            }
            if round % 10 == 0 { bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) } }
            do {
                _ = try DNSMessage(parsing: bytes).answerSet
                parsed += 1
            } catch {
                rejected += 1
            }
        }
        XCTAssertEqual(parsed + rejected, 5000)
        XCTAssertGreaterThan(parsed, 0)
        XCTAssertGreaterThan(rejected, 0)
    }

    // MARK: Frames

    /// An Ethernet frame of IPv4 or IPv6 UDP from `sourcePort` carrying `payload`, padded as
    /// short Ethernet frames are.
    private func frame(ipv6: Bool, sourcePort: UInt16 = 53, payload: [UInt8]) -> [UInt8] {
        ipv6 ? frame(from: [UInt8](repeating: 0, count: 15) + [1], to: [UInt8](repeating: 0, count: 15) + [2], sourcePort, 40000, payload)
             : frame(from: [10, 203, 0, 2], to: [10, 203, 0, 1], sourcePort, 40000, payload)
    }

    /// An Ethernet frame of UDP from `source`:`sourcePort` to `destination`:`destinationPort`
    /// (4-byte addresses: IPv4, 16: IPv6).
    private func frame(from source: [UInt8], to destination: [UInt8], _ sourcePort: UInt16, _ destinationPort: UInt16,
                       _ payload: [UInt8]) -> [UInt8] {
        var w = Wire()
        let ipv6 = source.count == 16
        w.bytes = [UInt8](repeating: 0, count: 12)  // MAC addresses (zero, as on loopback)
        w.u16(ipv6 ? 0x86DD : 0x0800)
        let udpLength = UInt16(8 + payload.count)
        if ipv6 {
            w.u32(0x6000_0000); w.u16(udpLength); w.bytes += [17, 64]
            w.bytes += source + destination
        } else {
            w.bytes += [0x45, 0]; w.u16(20 + udpLength); w.u32(0x0001_4000)  // DF set
            w.bytes += [64, 17, 0, 0] + source + destination
        }
        w.u16(sourcePort); w.u16(destinationPort); w.u16(udpLength); w.u16(0)
        w.bytes += payload
        while w.bytes.count < 60 { w.bytes.append(0) }
        return w.bytes
    }

    private func payload(of frame: [UInt8]) -> [UInt8]? {
        frame.withUnsafeBytes { DNSObserver.dnsPayload(ofFrame: $0).map { Array($0) } }
    }

    func testFramePayloadExtraction() {
        let dns = aResponse
        XCTAssertEqual(payload(of: frame(ipv6: false, payload: dns)), dns)
        XCTAssertEqual(payload(of: frame(ipv6: true, payload: dns)), dns)
        XCTAssertEqual(payload(of: frame(ipv6: false, payload: [1, 2])), [1, 2])  // padding is not payload
        XCTAssertNil(payload(of: frame(ipv6: false, sourcePort: 5353, payload: dns)))
        var fragment = frame(ipv6: false, payload: dns)
        fragment[20] = 0x20  // more fragments
        XCTAssertNil(payload(of: fragment))
        let whole = frame(ipv6: true, payload: dns)
        for length in 0..<whole.count { XCTAssertNil(payload(of: Array(whole[..<length]))) }
    }

    // MARK: Queries and answers

    private let client: [UInt8] = [10, 203, 0, 1], server: [UInt8] = [10, 203, 0, 2], attacker: [UInt8] = [10, 205, 0, 2]

    private func query(_ name: String = "allowed.test", id: UInt16 = 0x1234, type: UInt16 = 1) -> [UInt8] {
        var w = Wire()
        w.header(id: id, flags: 0x0100, counts: [1, 0, 0, 1])
        w.question(name, type: type)
        w.bytes += [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]  // EDNS OPT, as resolvers send
        return w.bytes
    }

    private func feed(_ observer: DNSObserver, _ frame: [UInt8], outgoing: Bool, at now: ContinuousClock.Instant) {
        frame.withUnsafeBytes { observer.observe(frame: $0, outgoing: outgoing, at: now) }
    }

    func testAnAnswerIsBelievedOnlyForTheQueryItAnswers() throws {
        let now = ContinuousClock.now
        let observer = DNSObserver.unattached()
        // An answer nobody asked for: from port 53, well formed, naming an attacker's address.
        feed(observer, frame(from: attacker, to: client, 53, 40000, aResponse), outgoing: false, at: now)
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), [])
        // The query leaves; answers that differ in one respect are refused; the right one is believed once.
        feed(observer, frame(from: client, to: server, 40000, 53, query()), outgoing: true, at: now)
        XCTAssertEqual(observer.pendingQueryCount, 1)
        feed(observer, frame(from: attacker, to: client, 53, 40000, aResponse), outgoing: false, at: now)   // another server
        feed(observer, frame(from: server, to: client, 53, 40001, aResponse), outgoing: false, at: now)     // another port
        var otherID = aResponse; otherID[1] ^= 1
        feed(observer, frame(from: server, to: client, 53, 40000, otherID), outgoing: false, at: now)       // another id
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), [])
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now)
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), ["allowed.test"])
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now)     // a second answer
        XCTAssertEqual(observer.counters, DNSObserver.Counters(answersParsed: 1, recordsStored: 1, answersRejected: 5, queriesSeen: 1))
        XCTAssertEqual(observer.pendingQueryCount, 0)
    }

    func testTheQuestionMustMatchAndTheQueryExpires() throws {
        let now = ContinuousClock.now
        let observer = DNSObserver.unattached()
        feed(observer, frame(from: client, to: server, 40000, 53, query("other.test")), outgoing: true, at: now)
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now)     // another name
        feed(observer, frame(from: client, to: server, 40000, 53, query(type: 28)), outgoing: true, at: now)
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now)     // another type
        feed(observer, frame(from: client, to: server, 40000, 53, query()), outgoing: true, at: now)
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now + DNSObserver.queryTimeout + .seconds(1))
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), [], "too late")
        XCTAssertEqual(observer.counters.answersRejected, 3)
        XCTAssertEqual(observer.pendingQueryCount, 0, "expired queries are gone")
    }

    /// Loopback frames are seen twice, out then in: the query's outgoing copy and the answer's
    /// incoming copy are used, the others ignored, and nothing is counted twice.
    func testLoopbackCopiesCountOnce() throws {
        let now = ContinuousClock.now
        let observer = DNSObserver.unattached(servers: ["127.0.0.53", "::1"])
        let loopback: [UInt8] = [127, 0, 0, 1], stub: [UInt8] = [127, 0, 0, 53]
        let ask = frame(from: loopback, to: stub, 40000, 53, query()), answer = frame(from: stub, to: loopback, 53, 40000, aResponse)
        feed(observer, ask, outgoing: true, at: now)
        feed(observer, ask, outgoing: false, at: now)
        feed(observer, answer, outgoing: true, at: now)
        feed(observer, answer, outgoing: false, at: now)
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), ["allowed.test"])
        let v6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]
        feed(observer, frame(from: v6, to: v6, 40001, 53, query(type: 28)), outgoing: true, at: now)
        XCTAssertEqual(observer.counters, DNSObserver.Counters(answersParsed: 1, recordsStored: 1, queriesSeen: 2))
    }

    func testQueriesToOtherServersAreNotKept() throws {
        let now = ContinuousClock.now
        let observer = DNSObserver.unattached(servers: ["10.255.255.53"])
        feed(observer, frame(from: client, to: server, 40000, 53, query()), outgoing: true, at: now)
        feed(observer, frame(from: server, to: client, 53, 40000, aResponse), outgoing: false, at: now)
        XCTAssertEqual(observer.names(for: "10.203.0.10", at: now), [])
        XCTAssertEqual(observer.counters, DNSObserver.Counters(answersRejected: 1, queriesIgnored: 1))
    }

    func testHostileFramesAreCountedNotBelieved() {
        let now = ContinuousClock.now
        let observer = DNSObserver.unattached()
        var random = SeededGenerator(state: 0xD15EA5E)
        feed(observer, frame(from: client, to: server, 40000, 53, query()), outgoing: true, at: now)
        let good = frame(from: server, to: client, 53, 40000, aResponse)
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes[Int.random(in: 14..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            if bytes == good { continue }
            feed(observer, bytes, outgoing: Bool.random(using: &random), at: now)
        }
        let counters = observer.counters
        XCTAssertLessThanOrEqual(counters.answersParsed, 1, "at most the one pending query is answered")
        XCTAssertLessThanOrEqual(observer.pendingQueryCount, 1 + Int(counters.queriesSeen))
    }

    func testPendingQueriesAreBoundedUnderAFlood() {
        var pending = PendingQueries(capacity: 64, timeout: .seconds(10))
        let now = ContinuousClock.now
        var evicted = 0
        for i in 0..<10_000 {
            let key = PendingQueries.Key(id: UInt16(i & 0xFFFF), name: "n\(i).test", type: 1, server: "10.0.0.1", clientPort: 40000)
            if pending.add(key, at: now) { evicted += 1 }
            if i % 3 == 0 { _ = pending.take(key, at: now) }
            XCTAssertLessThanOrEqual(pending.count, 64)
            XCTAssertLessThanOrEqual(pending.orderSlots, 4 * 64 + 1)
        }
        XCTAssertGreaterThan(evicted, 0)
        let newest = PendingQueries.Key(id: UInt16(9_998 & 0xFFFF), name: "n9998.test", type: 1, server: "10.0.0.1", clientPort: 40000)
        let before = pending.count
        XCTAssertTrue(pending.take(newest, at: now), "the newest survive; the oldest are evicted")
        let oldest = PendingQueries.Key(id: 1, name: "n1.test", type: 1, server: "10.0.0.1", clientPort: 40000)
        XCTAssertFalse(pending.take(oldest, at: now))
        XCTAssertEqual(pending.count, before - 1)
        _ = pending.take(newest, at: now + .seconds(11))
        XCTAssertEqual(pending.count, 0, "all expired")
    }

    // MARK: The address table

    func testObserverRemembersNamesMostRecentFirstUntilTheyExpire() throws {
        let observer = DNSObserver.unattached()
        let start = ContinuousClock.now
        observer.record(try DNSMessage(parsing: cnameResponse).answerSet, at: start)
        observer.record(DNSAnswerSet(question: "other.test", answers: [DNSAnswer(address: "1.2.3.4", name: "other.test", ttl: 5)]), at: start + .seconds(1))
        XCTAssertEqual(observer.names(for: "1.2.3.4", at: start + .seconds(2)).first, "other.test")
        XCTAssertEqual(Set(observer.names(for: "1.2.3.4", at: start + .seconds(2))), ["other.test", "www.x.test", "y.cdn.test"])
        XCTAssertEqual(observer.names(for: "::ffff:1.2.3.4", at: start + .seconds(2)).count, 3)
        // Every name is kept an hour at least (TTL 5 and 120 alike); TTL 900 for 900 s at most.
        observer.record(DNSAnswerSet(question: "long.test", answers: [DNSAnswer(address: "1.2.3.4", name: "long.test", ttl: 7200)]), at: start + .seconds(1))
        XCTAssertEqual(observer.names(for: "1.2.3.4", at: start + .seconds(3599)).count, 4)
        XCTAssertEqual(Set(observer.names(for: "1.2.3.4", at: start + .seconds(3602))), ["long.test"])
        XCTAssertEqual(observer.names(for: "1.2.3.4", at: start + .seconds(7202)), [])
        XCTAssertEqual(observer.names(for: "9.9.9.9"), [])
        XCTAssertEqual(observer.counters, DNSObserver.Counters(answersParsed: 3, packetsMalformed: 0, recordsStored: 6))
    }

    func testTableIsBoundedAndForgetsTheOldestFirst() {
        var table = AddressNames(capacity: 16)
        let now = ContinuousClock.now
        for i in 0..<40 {
            table.insert(DNSAnswer(address: "10.0.0.\(i)", name: "n\(i).test", ttl: 86_400 * 30), at: now)
            XCTAssertLessThanOrEqual(table.entries.count, 16)
        }
        XCTAssertEqual(table.names(for: "10.0.0.39", at: now), ["n39.test"])
        XCTAssertEqual(table.names(for: "10.0.0.0", at: now), [])
        XCTAssertEqual(table.names(for: "10.0.0.39", at: now + .seconds(86_401)), [], "TTLs are capped at a day")
    }
}
