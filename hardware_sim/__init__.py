"""The simulated twin of the rig: camera, balance and the loaded network.

Tests and ``labmnn demo`` use it in place of the real instruments; the app
never knows the difference.
"""
