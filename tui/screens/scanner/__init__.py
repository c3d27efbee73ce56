"""The Scanner screen: named scans over the warm universe, evaluated every live minute."""
