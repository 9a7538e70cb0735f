//! The macro that declares a condition's reasons: an enum of unit variants
//! whose names are the reasons written, with `as_str()`.

/// An enum of unit variants whose names are the reasons written.
macro_rules! reason_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// The reason as written to the condition.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => stringify!($v)),+ }
            }
        }
    };
}
pub(crate) use reason_enum;
