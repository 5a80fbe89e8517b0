//! US A2P 10DLC registration: a number sends application-to-person SMS over a 10-digit long
//! code once its business profile, its brand and its campaign are approved, in that order
//! (Twilio's A2P 10DLC onboarding, as documented in 2026).

/// The state of one registration step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Pending,
    Approved,
    Rejected,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }
}

/// A registration step, in the order they are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    BusinessProfile,
    Brand,
    Campaign,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::BusinessProfile => "business profile",
            Step::Brand => "brand",
            Step::Campaign => "campaign",
        }
    }
}

/// The registration of one sending number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub business_profile: Status,
    pub brand: Status,
    pub campaign: Status,
}

/// The first step that is not approved, with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncompleteStep {
    pub step: Step,
    pub status: Status,
}

/// Returns the first registration step that is not approved, or `None` when the number may send.
pub fn first_incomplete_step(registration: &Registration) -> Option<IncompleteStep> {
    [
        (Step::BusinessProfile, registration.business_profile),
        (Step::Brand, registration.brand),
        (Step::Campaign, registration.campaign),
    ]
    .into_iter()
    .find(|(_, status)| *status != Status::Approved)
    .map(|(step, status)| IncompleteStep { step, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(business_profile: Status, brand: Status, campaign: Status) -> Registration {
        Registration {
            business_profile,
            brand,
            campaign,
        }
    }

    #[test]
    fn all_approved_may_send() {
        let approved = registration(Status::Approved, Status::Approved, Status::Approved);
        assert_eq!(first_incomplete_step(&approved), None);
    }

    #[test]
    fn first_missing_step_reported() {
        let cases = [
            (
                registration(Status::NotStarted, Status::NotStarted, Status::NotStarted),
                Step::BusinessProfile,
                Status::NotStarted,
            ),
            (
                registration(Status::Approved, Status::Pending, Status::NotStarted),
                Step::Brand,
                Status::Pending,
            ),
            (
                registration(Status::Approved, Status::Approved, Status::Rejected),
                Step::Campaign,
                Status::Rejected,
            ),
        ];
        for (registration, step, status) in cases {
            let incomplete = first_incomplete_step(&registration).expect("a step is incomplete");
            assert_eq!(incomplete.step, step, "{registration:?}");
            assert_eq!(incomplete.status, status, "{registration:?}");
        }
    }
}
