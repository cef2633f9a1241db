//! The one exhaustive mapping from error kinds to MySQL error codes and SQLSTATEs.

use crate::error::Kind;

/// The code and SQLSTATE a client sees for each kind of error. Backend errors keep their own.
pub fn code_and_state(kind: Kind) -> (u16, [u8; 5]) {
    match kind {
        Kind::BadHandshake => (1043, *b"08S01"),
        Kind::AccessDenied => (1045, *b"28000"),
        Kind::DatabaseDenied => (1044, *b"42000"),
        Kind::TableDenied => (1142, *b"42000"),
        Kind::PrivilegeDenied => (1227, *b"42000"),
        Kind::NoDatabase => (1046, *b"3D000"),
        Kind::TableExists => (1050, *b"42S01"),
        Kind::NoSuchTable => (1146, *b"42S02"),
        Kind::UnknownTable => (1051, *b"42S02"),
        Kind::NoSuchColumn => (1054, *b"42S22"),
        Kind::DuplicateColumn => (1060, *b"42S21"),
        Kind::DuplicateKey => (1061, *b"42000"),
        Kind::NoKeyColumn => (1072, *b"42000"),
        Kind::CantDrop => (1091, *b"42000"),
        Kind::BadTableName => (1103, *b"42000"),
        Kind::BadColumnName => (1166, *b"42000"),
        Kind::NotIndexed => (1235, *b"42000"),
        Kind::NoTenant => (1046, *b"3D000"),
        Kind::EmptyQuery => (1065, *b"42000"),
        Kind::Syntax => (1064, *b"42000"),
        Kind::NotSupported => (1235, *b"42000"),
        Kind::UnknownCommand => (1047, *b"08S01"),
        Kind::UnknownStatement => (1243, *b"HY000"),
        Kind::NoOpenCursor => (1421, *b"HY000"),
        Kind::CursorBufferFull => (1114, *b"HY000"),
        Kind::WrongArguments => (1210, *b"HY000"),
        Kind::PacketTooLarge => (1153, *b"08S01"),
        Kind::BadCharacters => (1300, *b"HY000"),
        Kind::NoSuchThread => (1094, *b"HY000"),
        Kind::KillDenied => (1095, *b"HY000"),
        Kind::TooManyConnections => (1040, *b"08004"),
        Kind::LockTimeout => (1205, *b"HY000"),
        Kind::WrongValueForVariable => (1231, *b"42000"),
        Kind::StatementTimeout => (3024, *b"HY000"),
        Kind::BackendUnavailable => (1105, *b"HY000"),
        // CR_SERVER_LOST with the SQLSTATE of a communication-link failure, which connectors treat as "reconnect".
        Kind::BackendLost => (2013, *b"08S01"),
        Kind::Backend { code, state } => (code, state),
        Kind::Internal => (1105, *b"HY000"),
    }
}
