//! Integration tests through the binary, compiled as one test binary.

mod support;

mod check;
mod smoke;
