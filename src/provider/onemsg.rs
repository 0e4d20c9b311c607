//! 1msg client (in progress).
