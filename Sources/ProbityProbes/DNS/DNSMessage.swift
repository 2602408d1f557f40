/// DNS wire format (RFC 1035), read defensively: DNS answers come from the network, so every
/// length and pointer is checked before use and a bad message is a thrown error, never a crash.
import ProbityEvents

/// Why a DNS message could not be read, and at which byte.
public struct DNSMessageError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Problem: Hashable, Sendable {
        /// The message ends before a field that should be there.
        case truncated
        /// A compression pointer points past the end of the message.
        case pointerOutOfBounds
        /// A name follows more compression pointers than any real message needs.
        case pointerLoop
        /// A name is longer than 255 bytes on the wire.
        case nameTooLong
        /// A label starts with the reserved bits 01 or 10.
        case unsupportedLabelType
        /// An A or AAAA record whose data is not 4 or 16 bytes.
        case badAddressLength
        /// A CNAME whose target name does not end where its RDLENGTH says.
        case badRecordLength
    }

    /// Byte offset in the message where the problem was found.
    public var offset: Int
    public var problem: Problem

    public init(_ problem: Problem, at offset: Int) {
        self.problem = problem
        self.offset = offset
    }

    public var description: String { "malformed DNS message at byte \(offset): \(problem)" }
}

/// One entry of the question section.
public struct DNSQuestion: Hashable, Sendable {
    /// Lower-case name without the trailing dot (the root is `.`).
    public var name: String
    /// QTYPE: 1 is A, 28 is AAAA.
    public var type: UInt16
    /// QCLASS: 1 is IN.
    public var recordClass: UInt16
}

/// An answer record of a type Probity uses; other types are skipped while reading.
public struct DNSRecord: Hashable, Sendable {
    public enum Data: Hashable, Sendable {
        /// A or AAAA: the address as `SocketAddress.address` writes it.
        case address(String)
        /// CNAME: the canonical name the owner is an alias of.
        case canonicalName(String)
    }

    /// The owner name, lower case.
    public var name: String
    /// Time to live, seconds.
    public var ttl: UInt32
    public var data: Data
}

/// A DNS message: header, question section and the A, AAAA and CNAME records of the answer section.
public struct DNSMessage: Hashable, Sendable {
    public var id: UInt16
    /// The header's second 16-bit word: QR, opcode, AA, TC, RD, RA, Z and RCODE.
    public var flags: UInt16
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]

    /// QR: the message is a response.
    public var isResponse: Bool { flags & 0x8000 != 0 }
    /// RCODE: 0 is no error, 3 is NXDOMAIN.
    public var responseCode: UInt8 { UInt8(flags & 0x000F) }

    /// Reads a message. The authority and additional sections are not read.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(DNSMessageError) {
        var reader = DNSReader(bytes: bytes)
        id = try reader.uint16()
        flags = try reader.uint16()
        let questionCount = try reader.uint16(), answerCount = try reader.uint16()
        try reader.skip(4)  // NSCOUNT, ARCOUNT
        questions = []
        for _ in 0..<questionCount {
            let name = try reader.name()
            questions.append(DNSQuestion(name: name, type: try reader.uint16(), recordClass: try reader.uint16()))
        }
        answers = []
        for _ in 0..<answerCount {
            let name = try reader.name()
            let type = try reader.uint16(), recordClass = try reader.uint16()
            let ttl = try reader.uint32()
            let length = Int(try reader.uint16())
            let start = reader.offset
            let end = start + length
            guard end <= bytes.count else { throw DNSMessageError(.truncated, at: start) }
            guard recordClass == 1 else { try reader.skip(length); continue }  // IN only
            switch type {
            case 1, 28:  // A, AAAA
                guard length == (type == 1 ? 4 : 16) else { throw DNSMessageError(.badAddressLength, at: start) }
                let raw = Array(bytes[start..<end])
                let text = type == 1 ? raw.map { String($0) }.joined(separator: ".") : SocketAddress.formatIPv6(raw)
                answers.append(DNSRecord(name: name, ttl: ttl, data: .address(text)))
                try reader.skip(length)
            case 5:  // CNAME
                let target = try reader.name()
                guard reader.offset == end else { throw DNSMessageError(.badRecordLength, at: start) }
                answers.append(DNSRecord(name: name, ttl: ttl, data: .canonicalName(target)))
            default:
                try reader.skip(length)
            }
        }
    }

    /// Reads a message from an array of bytes.
    public init(parsing bytes: [UInt8]) throws(DNSMessageError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(DNSMessageError) in try DNSMessage(parsing: raw) } }
        self = try result.get()
    }

    /// What the answers say about addresses, CNAME chains followed: empty unless the message is
    /// a response with RCODE 0.
    public var answerSet: DNSAnswerSet {
        guard isResponse, responseCode == 0 else { return DNSAnswerSet(question: questions.first?.name, answers: []) }
        // alias (owner of a CNAME) by canonical name, with the CNAME's TTL
        var aliases: [String: [(name: String, ttl: UInt32)]] = [:]
        for record in answers {
            if case .canonicalName(let target) = record.data { aliases[target, default: []].append((record.name, record.ttl)) }
        }
        var result: [DNSAnswer] = []
        for record in answers {
            guard case .address(let address) = record.data else { continue }
            // Walk the chain back from the address's owner; `seen` stops CNAME loops.
            var pending = [(name: record.name, ttl: record.ttl)]
            var seen: Set<String> = []
            while let next = pending.popLast(), seen.count < 64 {
                guard seen.insert(next.name).inserted else { continue }
                result.append(DNSAnswer(address: address, name: next.name, ttl: next.ttl))
                for alias in aliases[next.name] ?? [] { pending.append((alias.name, min(next.ttl, alias.ttl))) }
            }
        }
        return DNSAnswerSet(question: questions.first?.name, answers: result)
    }
}

/// One address → name fact from a DNS response.
public struct DNSAnswer: Hashable, Sendable {
    /// IPv4 dotted quad or RFC 5952 IPv6 text, as `SocketAddress.address` writes it.
    public var address: String
    /// A name that resolves to `address`: the owner of the A/AAAA record or an alias leading to it.
    public var name: String
    /// Seconds the fact holds: the smallest TTL along the CNAME chain.
    public var ttl: UInt32

    public init(address: String, name: String, ttl: UInt32) {
        self.address = address
        self.name = name
        self.ttl = ttl
    }
}

/// The address → name facts of one DNS response.
public struct DNSAnswerSet: Hashable, Sendable {
    /// The first question's name, if any.
    public var question: String?
    public var answers: [DNSAnswer]

    public init(question: String?, answers: [DNSAnswer]) {
        self.question = question
        self.answers = answers
    }
}

/// A cursor over a message; every read is bounds-checked.
struct DNSReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func skip(_ count: Int) throws(DNSMessageError) {
        guard count <= bytes.count - offset else { throw DNSMessageError(.truncated, at: offset) }
        offset += count
    }

    mutating func uint16() throws(DNSMessageError) -> UInt16 {
        guard bytes.count - offset >= 2 else { throw DNSMessageError(.truncated, at: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func uint32() throws(DNSMessageError) -> UInt32 {
        UInt32(try uint16()) << 16 | UInt32(try uint16())
    }

    /// A possibly compressed name; leaves `offset` after the name's bytes in place (after the
    /// first pointer, if any). Bytes outside printable ASCII, dots and backslashes inside labels
    /// are written `\DDD`, as in zone files.
    mutating func name() throws(DNSMessageError) -> String {
        var text = "", wireLength = 0, hops = 0
        var position = offset
        var resume: Int?  // where reading continues after the first pointer
        while true {
            guard position < bytes.count else { throw DNSMessageError(.truncated, at: position) }
            let length = Int(bytes[position])
            switch length & 0xC0 {
            case 0xC0:
                guard position + 1 < bytes.count else { throw DNSMessageError(.truncated, at: position) }
                let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < bytes.count else { throw DNSMessageError(.pointerOutOfBounds, at: position) }
                hops += 1
                guard hops <= 32 else { throw DNSMessageError(.pointerLoop, at: position) }
                if resume == nil { resume = position + 2 }
                position = target
                continue
            case 0x00: break
            default: throw DNSMessageError(.unsupportedLabelType, at: position)
            }
            wireLength += length + 1
            guard wireLength <= 255 else { throw DNSMessageError(.nameTooLong, at: position) }
            if length == 0 { break }
            guard position + length < bytes.count else { throw DNSMessageError(.truncated, at: position) }
            if !text.isEmpty { text += "." }
            for byte in bytes[(position + 1)...(position + length)] {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): text.unicodeScalars.append(Unicode.Scalar(byte + 32))
                case UInt8(ascii: "."), UInt8(ascii: "\\"), ...0x20, 0x7F...:
                    let digits = String(byte)
                    text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
                default: text.unicodeScalars.append(Unicode.Scalar(byte))
                }
            }
            position += length + 1
        }
        offset = resume ?? position + 1
        return text.isEmpty ? "." : text
    }
}
