"""Short titles of the framework requirements the shipped rulepacks (and the vulnerability view)
map rules to, for reports that list requirements by number.

NIST SP 800-53 rev. 5 control names and the HIPAA Security Rule's section headings (45 CFR
164.3xx) are quoted; PCI DSS v4.0 requirements are summarised in a line (the standard's own text
is longer). A CIS recommendation's title is its rule's title (one rule per control), so CIS is not
listed here. A requirement missing from this table is shown with the titles of its rules.
"""

from __future__ import annotations

REQUIREMENT_TITLES: dict[str, dict[str, str]] = {
    "pci-dss": {
        "2.2.4": "Only necessary services, protocols, daemons and functions are enabled",
        "2.2.5": "Insecure services, protocols or daemons are justified and secured",
        "2.2.6": "System security parameters are configured to prevent misuse",
        "2.2.7": "Non-console administrative access is encrypted with strong cryptography",
        "4.2.1": "Strong cryptography protects cardholder data in transit over open networks",
        "6.3.3": "Known vulnerabilities are fixed by installing security patches in time",
        "7.2.1": "An access control model is defined",
        "8.2.1": "Every user is assigned a unique ID",
        "8.2.2": "Shared, group or generic accounts are used only by exception",
        "8.2.6": "Inactive user accounts are removed or disabled within 90 days",
        "8.2.8": "Re-authentication after 15 minutes of session idle",
        "8.3.1": "All user access is authenticated with at least one factor",
        "8.3.2": "Authentication factors are unreadable in transmission and storage",
        "8.3.4": "Invalid authentication attempts are limited (lockout)",
        "8.3.6": "Passwords meet minimum length and complexity",
        "8.3.7": "A new password differs from the last four",
        "8.3.9": "Passwords used as the only factor are changed every 90 days",
        "8.6.1": "Interactive use of system and application accounts is managed",
        "8.6.2": "Passwords of system and application accounts are not hard-coded",
        "10.2.1": "Audit logs are enabled and active",
        "10.2.2": "Audit logs record the required details of each event",
        "10.3.1": "Read access to audit logs is limited to a job-related need",
        "10.3.2": "Audit log files are protected from modification",
        "10.6.1": "System clocks are synchronised",
        "10.6.2": "Systems are configured to the correct and consistent time",
        "11.3.1": "Internal vulnerability scans are performed",
    },
    "hipaa": {
        "164.308(a)(1)(ii)(A)": "Risk analysis",
        "164.308(a)(1)(ii)(B)": "Risk management",
        "164.308(a)(5)(ii)(B)": "Protection from malicious software",
        "164.308(a)(5)(ii)(C)": "Log-in monitoring",
        "164.308(a)(5)(ii)(D)": "Password management",
        "164.310(d)(1)": "Device and media controls",
        "164.312(a)(1)": "Access control",
        "164.312(a)(2)(i)": "Unique user identification",
        "164.312(a)(2)(iii)": "Automatic logoff",
        "164.312(b)": "Audit controls",
        "164.312(c)(1)": "Integrity",
        "164.312(d)": "Person or entity authentication",
        "164.312(e)(1)": "Transmission security",
        "164.312(e)(2)(ii)": "Encryption",
    },
    "nist-800-53": {
        "AC-2": "Account Management",
        "AC-2(3)": "Account Management | Disable Accounts",
        "AC-3": "Access Enforcement",
        "AC-3(3)": "Access Enforcement | Mandatory Access Control",
        "AC-6": "Least Privilege",
        "AC-6(2)": "Least Privilege | Non-privileged Access for Nonsecurity Functions",
        "AC-7": "Unsuccessful Logon Attempts",
        "AC-8": "System Use Notification",
        "AC-10": "Concurrent Session Control",
        "AC-12": "Session Termination",
        "AC-17": "Remote Access",
        "AC-17(2)": "Remote Access | Protection of Confidentiality and Integrity Using "
                    "Encryption",
        "AU-2": "Event Logging",
        "AU-3": "Content of Audit Records",
        "AU-4": "Audit Log Storage Capacity",
        "AU-4(1)": "Audit Log Storage Capacity | Transfer to Alternate Storage",
        "AU-6": "Audit Record Review, Analysis, and Reporting",
        "AU-8": "Time Stamps",
        "AU-9": "Protection of Audit Information",
        "AU-12": "Audit Record Generation",
        "CM-6": "Configuration Settings",
        "CM-7": "Least Functionality",
        "CM-8": "System Component Inventory",
        "IA-2": "Identification and Authentication (Organizational Users)",
        "IA-5": "Authenticator Management",
        "IA-5(1)": "Authenticator Management | Password-based Authentication",
        "IA-5(7)": "Authenticator Management | No Embedded Unencrypted Static Authenticators",
        "MP-7": "Media Use",
        "RA-5": "Vulnerability Monitoring and Scanning",
        "SC-4": "Information in Shared System Resources",
        "SC-5": "Denial-of-service Protection",
        "SC-7": "Boundary Protection",
        "SC-8": "Transmission Confidentiality and Integrity",
        "SC-10": "Network Disconnect",
        "SC-12": "Cryptographic Key Establishment and Management",
        "SC-13": "Cryptographic Protection",
        "SI-2": "Flaw Remediation",
        "SI-4": "System Monitoring",
        "SI-11": "Error Handling",
        "SI-16": "Memory Protection",
    },
    "aws": {
        "EC2.8": "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)",
        "SSM.1": "EC2 instances should be managed by AWS Systems Manager",
        "Inspector.1": "Amazon Inspector EC2 scanning should be enabled",
    },
}


def requirement_title(framework: str, requirement: str) -> str | None:
    """The requirement's title, or None when this table does not know it."""
    return REQUIREMENT_TITLES.get(framework, {}).get(requirement)
