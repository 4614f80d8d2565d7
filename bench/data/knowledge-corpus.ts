// The retrieval benchmark's own corpus: the help centre of a fictional outdoor
// shop, and questions phrased as customers ask them, each with the document
// that answers it. Questions reuse some of their document's words but not all,
// as real questions do.

export type CorpusDocument = { id: string; title: string; text: string };
export type CorpusQuestion = { question: string; answer: string };

export const DOCUMENTS: CorpusDocument[] = [
  { id: 'returns', title: 'Returns policy', text: '# Returns\n\nUnworn items can be returned within 60 days of delivery for a full refund. Items must carry their original tags. Worn footwear is accepted only if it is faulty.\n\n## How to return\n\nPrint the prepaid label from your account page, pack the item and drop it at any parcel point.' },
  { id: 'refund-timing', title: 'Refund timing', text: '# Refunds\n\nOnce the warehouse receives a return, the refund is issued within 5 business days to the original payment method. Card issuers may take another 3 to 7 days to show the credit.' },
  { id: 'shipping-costs', title: 'Shipping costs', text: '# Delivery charges\n\nStandard delivery costs 4.95 and is free on orders over 75. Express delivery costs 12.50 and arrives the next working day when ordered before 2 PM.' },
  { id: 'international', title: 'International delivery', text: '# Shipping abroad\n\nWe deliver to 31 countries in Europe and to Canada. Customs duties for Canada are collected by the courier on arrival. We do not ship to PO boxes outside the EU.' },
  { id: 'order-tracking', title: 'Tracking an order', text: '# Where is my parcel?\n\nA tracking link is emailed as soon as the parcel leaves the warehouse. You can also follow every order from the Orders tab of your account.' },
  { id: 'sizing-boots', title: 'Boot sizing', text: '# Finding your boot size\n\nMeasure your foot in the evening, when it is largest, and add 1 cm for thick hiking socks. Our boots run half a size small, so most customers order half a size up.' },
  { id: 'tent-care', title: 'Tent care', text: '# Caring for your tent\n\nNever pack a tent away wet: mildew ruins the coating within days. Dry it fully, clean the zips with a soft brush and store it loosely in a cool place.' },
  { id: 'waterproofing', title: 'Re-proofing jackets', text: '# Keeping jackets waterproof\n\nWhen water stops beading on the fabric, wash the jacket with a technical cleaner and tumble dry it on low heat to reactivate the DWR finish. Spray-on proofers help older jackets.' },
  { id: 'warranty', title: 'Warranty', text: '# Two-year guarantee\n\nEvery product carries a two-year guarantee against manufacturing faults. Backpacks and tents from our own brand are guaranteed for life. Damage from accidents or normal wear is not covered.' },
  { id: 'repairs', title: 'Repair service', text: '# Repairs\n\nOur workshop mends torn fabric, replaces zips and re-soles boots. Send the item with the repair form; we quote a price within a week and return the item in about three weeks.' },
  { id: 'gift-cards', title: 'Gift cards', text: '# Gift cards\n\nGift cards are sold from 10 to 500 and are valid for three years. They can be used online and in shops, but cannot be exchanged for cash.' },
  { id: 'loyalty', title: 'Trail Club', text: '# Trail Club membership\n\nMembership is free. Members earn one point per euro spent; 100 points give a 5 euro voucher. Members also get early access to the spring and autumn sales.' },
  { id: 'store-hours', title: 'Shop opening hours', text: '# Opening hours\n\nOur shops are open Monday to Saturday from 9:30 to 19:00 and on Sunday from 11:00 to 17:00. They close on public holidays.' },
  { id: 'rental', title: 'Equipment rental', text: '# Renting gear\n\nTents, sleeping bags and stoves can be rented for a weekend or a week from the Lyon and Grenoble shops. A deposit of 150 is taken on the card and released when the gear comes back clean.' },
  { id: 'price-match', title: 'Price match', text: '# Price promise\n\nIf you find the same product cheaper at a UK or EU retailer within 14 days of buying it, we refund the difference. Marketplace sellers and clearance prices do not count.' },
  { id: 'payment-methods', title: 'Payment methods', text: '# Paying for your order\n\nWe accept Visa, Mastercard, American Express, PayPal and bank transfer. Orders paid by bank transfer are held for 5 days waiting for the payment.' },
  { id: 'instalments', title: 'Paying in instalments', text: '# Pay in three\n\nOrders between 100 and 2000 can be paid in three interest-free monthly instalments. The first is charged when the order ships.' },
  { id: 'account-delete', title: 'Deleting an account', text: '# Closing your account\n\nTo delete your account and personal data, open Privacy in your account settings and choose Delete account. Order records are kept for 10 years because tax law requires it.' },
  { id: 'password', title: 'Password reset', text: '# Forgotten password\n\nClick Forgot password on the sign-in page and we email a link that works for 30 minutes. If the email does not arrive, check the spam folder.' },
  { id: 'stove-safety', title: 'Stove safety', text: '# Using camping stoves safely\n\nNever cook inside a closed tent: stoves produce carbon monoxide. Cook in the open or under a well-ventilated porch, and keep the stove on stable ground.' },
  { id: 'sleeping-bag', title: 'Sleeping bag ratings', text: '# Temperature ratings\n\nThe comfort rating is the lowest temperature at which an average sleeper stays warm. The limit rating is for a curled-up sleeper. Choose a bag rated 5 degrees below the coldest night you expect.' },
  { id: 'student-discount', title: 'Student discount', text: '# Students\n\nStudents get 10 percent off full-price items after verifying their status once with a university email address. The discount cannot be combined with sale prices.' },
  { id: 'bike-service', title: 'Bike servicing', text: '# Cycle workshop\n\nA basic bike service costs 59 and includes brake and gear adjustment. A full service costs 119 and adds a wheel true and a drivetrain clean. Book online; most services take 48 hours.' },
  { id: 'sustainability', title: 'Sustainability', text: '# Our materials\n\nSeventy percent of our own-brand clothing uses recycled or organic fibres. Down comes from certified responsible sources, and we take back worn-out gear for recycling in every shop.' },
];

export const QUESTIONS: CorpusQuestion[] = [
  { question: 'How long do I have to send something back?', answer: 'returns' },
  { question: 'Can I return boots I have already worn?', answer: 'returns' },
  { question: 'When will I get my money back after a return?', answer: 'refund-timing' },
  { question: 'How many days until the refund reaches my card?', answer: 'refund-timing' },
  { question: 'Is delivery free?', answer: 'shipping-costs' },
  { question: 'How much is next day express delivery?', answer: 'shipping-costs' },
  { question: 'Do you ship to Canada?', answer: 'international' },
  { question: 'Who pays customs duties?', answer: 'international' },
  { question: 'Where can I follow my parcel?', answer: 'order-tracking' },
  { question: 'How do I track my order?', answer: 'order-tracking' },
  { question: 'Should I order a bigger boot size?', answer: 'sizing-boots' },
  { question: 'How do I measure my foot for boots?', answer: 'sizing-boots' },
  { question: 'How should I store my tent?', answer: 'tent-care' },
  { question: 'My tent got mildew, what did I do wrong?', answer: 'tent-care' },
  { question: 'My jacket is not waterproof anymore, what can I do?', answer: 'waterproofing' },
  { question: 'How do I reactivate the DWR coating?', answer: 'waterproofing' },
  { question: 'How long is the guarantee on a backpack?', answer: 'warranty' },
  { question: 'Is accidental damage covered by the warranty?', answer: 'warranty' },
  { question: 'Can you replace a broken zip?', answer: 'repairs' },
  { question: 'How long does a boot resole take?', answer: 'repairs' },
  { question: 'Do gift cards expire?', answer: 'gift-cards' },
  { question: 'Can I turn a gift card into cash?', answer: 'gift-cards' },
  { question: 'How many points do I need for a voucher?', answer: 'loyalty' },
  { question: 'Does the Trail Club cost anything?', answer: 'loyalty' },
  { question: 'Are your shops open on Sunday?', answer: 'store-hours' },
  { question: 'What time does the shop close on Saturday?', answer: 'store-hours' },
  { question: 'Can I rent a tent for the weekend?', answer: 'rental' },
  { question: 'How much is the deposit for rented gear?', answer: 'rental' },
  { question: 'Will you match a cheaper price from another shop?', answer: 'price-match' },
  { question: 'Do you accept PayPal?', answer: 'payment-methods' },
  { question: 'Can I pay by bank transfer?', answer: 'payment-methods' },
  { question: 'Can I spread the payment over several months?', answer: 'instalments' },
  { question: 'How do I delete my account?', answer: 'account-delete' },
  { question: 'I forgot my password', answer: 'password' },
  { question: 'Is it safe to cook inside my tent?', answer: 'stove-safety' },
  { question: 'What does the comfort temperature of a sleeping bag mean?', answer: 'sleeping-bag' },
  { question: 'Do students get a discount?', answer: 'student-discount' },
  { question: 'How much does a bike service cost?', answer: 'bike-service' },
  { question: 'Do you use recycled materials?', answer: 'sustainability' },
  { question: 'Can I bring old gear back for recycling?', answer: 'sustainability' },
];

/** Words for the synthetic passages that fill the index to 1k, 10k and 100k passages. */
export const FILLER_WORDS = (
  'mountain river valley trail summit forest meadow glacier ridge canyon harbour village market bridge ' +
  'lantern compass rope anchor engine pump valve filter battery cable sensor signal window door roof ' +
  'invoice ledger budget contract supplier freight pallet crate warehouse shelf barcode scanner ' +
  'morning evening winter summer autumn spring weekly monthly annual quarterly meeting report review ' +
  'quickly slowly carefully often rarely always never almost perhaps certainly simply mostly'
).split(' ');
