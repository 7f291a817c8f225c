"""Tests of the NE-1000 serial driver, its protocol and its emulator (issue 5)."""
