//! owner: config helper
